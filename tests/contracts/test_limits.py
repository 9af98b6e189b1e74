"""Every too-large body gets the JSON 413 {error, code}, whoever notices it
(waitress before it buffers the body, or the app), also for a client that
sends its whole body before reading; and a saved conversation's fields have
the same limit as a chat message. Real services under waitress."""

from __future__ import annotations

import json
import socket

import pytest
import requests

LIMIT = 65536  # CAPIBARA6_MAX_BODY_BYTES for these tests


@pytest.fixture
def consensus(service, fake_ollama):
    return service("consensus", {"OLLAMA_URL": fake_ollama.url, "CAPIBARA6_MAX_BODY_BYTES": str(LIMIT),
                                 "CAPIBARA6_CONSENSUS_MAX_PROMPT_CHARS": str(LIMIT)})


def assert_json_413(reply: requests.Response) -> None:
    assert reply.status_code == 413, reply.text[:200]
    assert reply.headers["Content-Type"].startswith("application/json"), reply.headers
    body = reply.json()
    assert body["code"] == "payload_too_large" and str(LIMIT) in body["error"], body


@pytest.mark.parametrize("size", [LIMIT + 1, LIMIT * 4 + 2 * 1024 * 1024, 32 * 1024 * 1024])
def test_a_body_over_the_limit_is_the_json_413_even_sent_whole_first(consensus, size):
    # requests writes the whole body before it reads: a server that answers early and
    # closes with the rest unread resets the connection, and the client sees no answer.
    body = json.dumps({"prompt": "x" * size}).encode()
    assert_json_413(requests.post(f"{consensus.url}/api/consensus/query", data=body,
                                  headers={"Content-Type": "application/json"}, timeout=30))
    assert requests.get(f"{consensus.url}/health", timeout=10).status_code == 200


def test_a_chunked_body_over_the_limit_is_the_json_413(consensus):
    def pieces():
        for _ in range(LIMIT // 4096 + 2):
            yield b"x" * 4096
    assert_json_413(requests.post(f"{consensus.url}/api/consensus/query", data=pieces(),
                                  headers={"Content-Type": "application/json"}, timeout=30))


def test_a_body_at_the_limit_is_read(consensus):
    prefix, suffix = b'{"prompt": "', b'", "temperature": 9}'
    body = prefix + b"x" * (LIMIT - len(prefix) - len(suffix)) + suffix
    reply = requests.post(f"{consensus.url}/api/consensus/query", data=body,
                          headers={"Content-Type": "application/json"}, timeout=30)
    assert reply.status_code == 400 and reply.json()["field"] == "temperature", reply.text[:200]


def test_the_declared_length_alone_gets_the_json_413_at_once(consensus):
    # A client that waits for the answer before sending its body (as with Expect: 100-continue).
    with socket.create_connection(("127.0.0.1", consensus.port), timeout=10) as sock:
        sock.sendall(b"POST /api/consensus/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % (LIMIT * 100))
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413") and b"application/json" in head, head
    assert json.loads(body)["code"] == "payload_too_large"


@pytest.fixture
def chat(service, fake_ollama):
    return service("chat", {"OLLAMA_URL": fake_ollama.url, "CAPIBARA6_CHAT_MAX_MESSAGE_CHARS": "1000"})


@pytest.mark.parametrize("body, field", [
    ({"message": "x" * 1001, "response": "ok"}, "message"),
    ({"user": "hola", "assistant": "x" * 1001}, "assistant"),  # the name the client sent
    ({"conversations": [{"message": "hola", "response": "ok"}, {"message": "x" * 1001, "response": "ok"}]},
     "conversations"),
])
def test_a_saved_conversation_field_longer_than_a_chat_message_is_refused(chat, body, field):
    reply = requests.post(f"{chat.url}/api/save-conversation", json=body, timeout=30)
    assert reply.status_code == 400 and reply.json()["code"] == "invalid_field", reply.text[:300]
    assert reply.json()["field"] == field
    # The limit itself is fine.
    fine = requests.post(f"{chat.url}/api/save-conversation",
                         json={"message": "x" * 1000, "response": "ok"}, timeout=30)
    assert fine.status_code == 200 and fine.json()["saved"] == 1


def test_a_9_mb_saved_message_is_refused_with_the_default_limits(service, fake_ollama):
    chat = service("chat", {"OLLAMA_URL": fake_ollama.url})
    reply = requests.post(f"{chat.url}/api/save-conversation",
                          json={"message": "x" * (9 * 1024 * 1024), "response": "ok"}, timeout=60)
    assert reply.status_code == 400 and reply.json()["field"] == "message", reply.text[:300]


def test_a_client_writing_its_whole_body_before_reading_gets_the_answer_not_a_reset(consensus):
    size = 16 * 1024 * 1024
    with socket.create_connection(("127.0.0.1", consensus.port), timeout=30) as sock:
        sock.sendall(b"POST /api/consensus/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % size + b"x" * size)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413") and b"application/json" in head, head
    assert json.loads(body)["code"] == "payload_too_large"
