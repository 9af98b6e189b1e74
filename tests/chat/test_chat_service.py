"""The chat gateway under waitress, against the fake Ollama."""

from __future__ import annotations

import json
import signal
import sqlite3
import threading

import pytest
import requests

from tests.fakes.ollama_server import FakeModel, FakeOllama


@pytest.fixture
def chat(service, fake_ollama):
    return service("chat", {"OLLAMA_URL": fake_ollama.url, "OLLAMA_MODEL": "llama3.2:latest",
                            "OLLAMA_TIMEOUT": "2"})


def sse_events(response) -> list[dict]:
    return [json.loads(line[len("data: "):]) for line in response.iter_lines(decode_unicode=True)
            if line.startswith("data: ") and line != "data: [DONE]"]


def test_chat_answers_with_the_fields_the_page_reads(chat, fake_ollama):
    reply = requests.post(f"{chat.url}/api/chat", json={
        "message": "¿Qué es un capibara?", "max_tokens": 64, "temperature": 0.2,
        "history": [{"role": "user", "content": "hola"}, {"role": "assistant", "content": "¡hola!"}],
    }, timeout=10)
    assert reply.status_code == 200
    body = reply.json()
    assert body["response"] == body["content"] == "¡Hola! Soy Capibara6, tu asistente. ¿En qué puedo ayudarte hoy?"
    assert body["model"] == "llama3.2:latest"
    assert body["tokens"] == body["usage"]["completion_tokens"] == 10
    assert body["usage"]["prompt_tokens"] > 0
    assert body["timestamp"].startswith("20")
    sent = fake_ollama.stats.chat_requests[-1]
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "user"]
    assert sent["messages"][-1]["content"] == "¿Qué es un capibara?"
    assert sent["options"] == {"num_predict": 64, "temperature": 0.2}
    assert "<6>" in chat.log() and "POST /api/chat 200" in chat.log()


def test_stream_forwards_each_token_as_it_arrives(service):
    gate = threading.Event()
    with FakeOllama([FakeModel("llama3.2:latest", reply="uno dos tres", gate=gate)]) as fake:
        chat = service("chat", {"OLLAMA_URL": fake.url})
        with requests.post(f"{chat.url}/api/chat/stream", json={"message": "cuenta"}, stream=True,
                           timeout=10) as response:
            assert response.headers["Content-Type"].startswith("text/event-stream")
            assert response.headers["Cache-Control"] == "no-cache"
            assert response.headers["X-Accel-Buffering"] == "no"
            lines = response.iter_lines(decode_unicode=True)
            first = next(line for line in lines if line.startswith("data: "))
            # The fake holds the rest until the gate opens: this token came through alone.
            assert json.loads(first[6:]) == {"content": "uno", "done": False}
            gate.set()
            rest = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
    assert [e["content"] for e in rest[:-1]] == [" dos", " tres"]
    assert rest[-1] == {"content": "", "done": True, "full_response": "uno dos tres",
                        "model": "llama3.2:latest", "tokens": 3}


def test_stream_ends_with_an_error_event_when_ollama_dies(service):
    with FakeOllama([FakeModel("llama3.2:latest", failure="die", die_after_tokens=2)]) as fake:
        chat = service("chat", {"OLLAMA_URL": fake.url})
        response = requests.post(f"{chat.url}/api/chat/stream", json={"message": "hola"}, timeout=10)
    events = sse_events(response)
    assert [e.get("content") for e in events[:2]] == ["¡Hola!", " Soy"]
    assert events[-1]["done"] is True and "error" in events[-1]
    assert chat.proc.poll() is None


def test_models_come_from_ollama_or_from_config_when_it_is_down(service, fake_ollama):
    chat = service("chat", {"OLLAMA_URL": fake_ollama.url, "OLLAMA_MODEL": "qwen2.5:7b"})
    body = requests.get(f"{chat.url}/api/models", timeout=10).json()
    assert body["source"] == "ollama" and body["current_model"] == "qwen2.5:7b"
    assert {m["name"] for m in body["models"]} == {"llama3.2:latest", "qwen2.5:7b"}
    fake_ollama.refuse()
    body = requests.get(f"{chat.url}/api/models", timeout=10).json()
    assert body == {"models": [{"name": "qwen2.5:7b"}], "current_model": "qwen2.5:7b", "source": "config"}


def test_health_reports_ollama_and_degrades_when_it_is_down(chat, fake_ollama):
    for path in ("/health", "/api/health"):
        body = requests.get(chat.url + path, timeout=10).json()
        assert body["status"] == "ok" and body["service"] == "capibara6-chat"
        assert body["checks"]["ollama"]["status"] == "ok"
        assert body["checks"]["ollama"]["model_available"] is True
        assert body["checks"]["ollama"]["url"] == fake_ollama.url
    fake_ollama.refuse()
    reply = requests.get(chat.url + "/api/health", timeout=10)
    assert reply.status_code == 200
    assert reply.json()["status"] == "degraded"
    assert reply.json()["checks"]["ollama"]["status"] == "unreachable"


def test_ollama_down_is_a_502(chat, fake_ollama):
    fake_ollama.refuse()
    for path in ("/api/chat", "/api/chat/stream"):
        reply = requests.post(chat.url + path, json={"message": "hola"}, timeout=10)
        assert reply.status_code == 502
        assert reply.json()["code"] == "upstream_unavailable"


def test_ollama_slower_than_the_timeout_is_a_504(service):
    with FakeOllama([FakeModel("llama3.2:latest", failure="hang")]) as fake:
        chat = service("chat", {"OLLAMA_URL": fake.url, "OLLAMA_TIMEOUT": "0.5"})
        reply = requests.post(f"{chat.url}/api/chat", json={"message": "hola"}, timeout=10)
        assert reply.status_code == 504
        assert reply.json()["code"] == "upstream_timeout"
        reply = requests.post(f"{chat.url}/api/chat/stream", json={"message": "hola"}, timeout=10)
        assert reply.status_code == 504


def test_unknown_model_is_a_404_naming_it(chat):
    reply = requests.post(f"{chat.url}/api/chat", json={"message": "hola", "model": "gpt-9:900b"}, timeout=10)
    assert reply.status_code == 404
    assert reply.json()["code"] == "model_not_found" and "gpt-9:900b" in reply.json()["error"]


@pytest.mark.parametrize("body, field", [
    ({}, "message"),
    ({"message": ""}, "message"),
    ({"message": "   "}, "message"),
    ({"message": 42}, "message"),
    ({"message": "hola", "temperature": 5}, "temperature"),
    ({"message": "hola", "temperature": "caliente"}, "temperature"),
    ({"message": "hola", "max_tokens": 0}, "max_tokens"),
    ({"message": "hola", "max_tokens": 10 ** 9}, "max_tokens"),
    ({"message": "hola", "max_tokens": 1.5}, "max_tokens"),
    ({"message": "hola", "history": "no"}, "history"),
    ({"message": "hola", "history": [{"role": "robot", "content": "x"}]}, "history"),
    ({"message": "hola", "model": ["x"]}, "model"),
])
def test_bad_input_is_a_400_naming_the_field(chat, body, field):
    reply = requests.post(f"{chat.url}/api/chat", json=body, timeout=10)
    assert reply.status_code == 400
    assert reply.json()["field"] == field and reply.json()["error"]


@pytest.mark.parametrize("data", [b"", b"{not json", b"[1, 2]", b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_is_a_400(chat, data):
    reply = requests.post(f"{chat.url}/api/chat", data=data,
                          headers={"Content-Type": "application/json"}, timeout=10)
    assert reply.status_code == 400
    assert reply.json()["code"] == "invalid_json"


def test_oversized_body_and_upload_are_413(service, fake_ollama):
    chat = service("chat", {"OLLAMA_URL": fake_ollama.url, "CAPIBARA6_CHAT_MAX_UPLOAD_BYTES": "2048"})
    reply = requests.post(f"{chat.url}/api/chat", json={"message": "x" * 400_000}, timeout=10)
    assert reply.status_code == 413 and reply.json()["code"] == "payload_too_large"
    reply = requests.post(f"{chat.url}/api/chat", data={"message": "lee esto"},
                          files={"files": ("grande.txt", b"a" * 4096)}, timeout=10)
    assert reply.status_code == 413 and "grande.txt" in reply.json()["error"]


def test_multipart_with_a_text_file(chat, fake_ollama):
    reply = requests.post(f"{chat.url}/api/chat", data={"message": "resume", "max_tokens": "20"},
                          files={"files": ("notas.txt", "Los capibaras nadan bien.".encode())}, timeout=10)
    assert reply.status_code == 200, reply.text
    sent = fake_ollama.stats.chat_requests[-1]
    assert "notas.txt" in sent["messages"][-1]["content"]
    assert "Los capibaras nadan bien." in sent["messages"][-1]["content"]
    assert sent["options"]["num_predict"] == 20
    reply = requests.post(f"{chat.url}/api/chat", data={"message": "resume"},
                          files={"files": ("foto.png", b"\x89PNG\r\n\x1a\n\xff\x00")}, timeout=10)
    assert reply.status_code == 415


def test_saved_conversations_survive_kill_9(chat, tmp_path):
    one = requests.post(f"{chat.url}/api/save-conversation",
                        json={"message": "hola", "response": "¡hola!", "email": "a@b.c"}, timeout=10)
    assert one.status_code == 200 and one.json()["success"] is True and one.json()["saved"] == 1
    many = requests.post(f"{chat.url}/api/save-conversation", json={"conversations": [
        {"message": "uno", "response": "1"}, {"message": "dos", "response": "2"}]}, timeout=10)
    assert many.json()["saved"] == 2
    chat.proc.send_signal(signal.SIGKILL)
    chat.proc.wait(10)
    db = sqlite3.connect(tmp_path / "state-chat" / "conversations.sqlite3")
    rows = db.execute("SELECT save_id, message, response FROM messages ORDER BY rowid").fetchall()
    assert rows == [(one.json()["id"], "hola", "¡hola!"),
                    (many.json()["id"], "uno", "1"), (many.json()["id"], "dos", "2")]


@pytest.mark.parametrize("body", [{}, {"conversations": []}, {"conversations": "x"},
                                  {"message": 1, "response": 2}, {"conversations": [1]}])
def test_bad_conversations_are_400(chat, body):
    reply = requests.post(f"{chat.url}/api/save-conversation", json=body, timeout=10)
    assert reply.status_code == 400 and reply.json()["error"]


def test_errors_are_json_never_html(chat):
    missing = requests.get(f"{chat.url}/nope", timeout=10)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    wrong_method = requests.get(f"{chat.url}/api/chat", timeout=10)
    assert wrong_method.status_code == 405 and wrong_method.json()["code"] == "method_not_allowed"


def test_cors_allows_only_the_listed_origins(service, fake_ollama):
    chat = service("chat", {"OLLAMA_URL": fake_ollama.url,
                            "CAPIBARA6_CORS_ORIGINS": "https://capibara6.example,https://admin.capibara6.example"})
    allowed = requests.options(f"{chat.url}/api/chat", timeout=10, headers={
        "Origin": "https://capibara6.example", "Access-Control-Request-Method": "POST"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://capibara6.example"
    other = requests.options(f"{chat.url}/api/chat", timeout=10, headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in other.headers
    # No Origin: not a CORS request (curl, an OpenAI client, nginx's health check), so no
    # CORS headers, and none of the allowed origins is named to whoever asks.
    plain = requests.get(f"{chat.url}/health", timeout=10)
    assert plain.status_code in (200, 503)
    assert [name for name in plain.headers if name.lower().startswith("access-control-")] == []


def test_request_id_is_honoured_or_made(chat):
    given = requests.get(f"{chat.url}/health", headers={"X-Request-ID": "abc-123"}, timeout=10)
    assert given.headers["X-Request-ID"] == "abc-123"
    made = requests.get(f"{chat.url}/health", timeout=10)
    assert len(made.headers["X-Request-ID"]) == 32
    assert "id=abc-123" in chat.log()


def test_metrics_count_requests(chat):
    requests.post(f"{chat.url}/api/chat", json={}, timeout=10)
    text = requests.get(f"{chat.url}/metrics", timeout=10).text
    assert 'capibara6_http_requests_total{endpoint="/api/chat",method="POST",service="chat",status="400"} 1.0' in text
