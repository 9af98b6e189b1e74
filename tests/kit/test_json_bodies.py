"""Bodies that outside testers sent to the services' JSON routes and that made
them answer 500: each is a 400 with the JSON error {error, code[, field]},
checked on real services under waitress (chat and consensus in front of the
fake Ollama, tts with espeak-ng)."""

from __future__ import annotations

import time

import pytest
import requests

DEEP = b"[" * 1000 + b"]" * 1000  # 2 KB, 1000 levels: RecursionError in Python's JSON reader
ROUTES = {
    "chat": ("/api/chat", "message"),
    "consensus": ("/api/consensus/query", "prompt"),
    "tts": ("/tts", "text"),
}


@pytest.fixture
def running(service, fake_ollama):
    def start(name: str):
        env = {"OLLAMA_URL": fake_ollama.url}
        if name == "tts":
            env = {"CAPIBARA6_TTS_ENGINE": "espeak"}
        proc = service(name, env)
        deadline = time.monotonic() + 60  # tts answers 503 until its engine is loaded
        while requests.get(f"{proc.url}/health", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, f"{name} never became ready:\n{proc.log()}"
            time.sleep(0.2)
        return proc
    return start


def post(proc, path: str, body: bytes) -> requests.Response:
    return requests.post(f"{proc.url}{path}", data=body, headers={"Content-Type": "application/json"},
                         timeout=30)


def assert_bad_request(reply: requests.Response, code: str, field: str | None = None) -> None:
    assert reply.status_code == 400, reply.text
    body = reply.json()
    assert body["code"] == code and body["error"], body
    if field is not None:
        assert body["field"] == field, body


@pytest.mark.parametrize("name", ROUTES)
def test_hostile_bodies_are_400s_and_the_service_keeps_answering(running, name):
    proc = running(name)
    path, field = ROUTES[name]
    # Deeply nested, as the whole body and inside a field.
    assert_bad_request(post(proc, path, DEEP), "invalid_json")
    assert_bad_request(post(proc, path, b'{"%s": "hola", "x": ' % field.encode() + DEEP + b"}"), "invalid_json")
    assert_bad_request(post(proc, path, b'{"x":' * 40 + b"1" + b"}" * 40), "invalid_json")
    # A lone surrogate in the text field: named in the answer.
    assert_bad_request(post(proc, path, b'{"%s": "hola \\ud800"}' % field.encode()), "invalid_field", field)
    # NaN and Infinity are not JSON numbers.
    assert_bad_request(post(proc, path, b'{"%s": "hola", "temperature": NaN}' % field.encode()), "invalid_json")
    assert_bad_request(post(proc, path, b'{"%s": "hola", "temperature": -Infinity}' % field.encode()),
                       "invalid_json")
    assert requests.get(f"{proc.url}/health", timeout=10).status_code == 200
