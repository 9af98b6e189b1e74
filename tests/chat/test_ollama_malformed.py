"""A 200 from Ollama that is not an answer: a 502 before the first byte, an error event after it.

The fake answers each malformed kind (not JSON, a JSON list, an empty body,
Ollama's own {"error": ...}) for the model named "<kind>:start"; "<kind>:mid"
streams two good tokens first. One chat service serves the whole module.
"""

from __future__ import annotations

import json

import pytest
import requests

from capibara6.consensus.fanout import Call, ask_all
from capibara6.ollama import OllamaClient
from tests.processes import ServiceProcess
from tests.fakes.ollama_server import MALFORMED, MIDWAY_ERROR, FakeModel, FakeOllama

KINDS = list(MALFORMED)
MESSAGES = [{"role": "user", "content": "hola"}]


@pytest.fixture(scope="module")
def bad_ollama():
    models = [FakeModel("llama3.2:latest")]
    for kind in KINDS:
        models += [FakeModel(f"{kind}:start", failure=kind),
                   FakeModel(f"{kind}:mid", failure=kind, fail_after_tokens=2)]
    with FakeOllama(models) as fake:
        yield fake


@pytest.fixture(scope="module")
def chat(bad_ollama, tmp_path_factory):
    proc = ServiceProcess("chat", {"OLLAMA_URL": bad_ollama.url, "OLLAMA_TIMEOUT": "5"},
                          tmp_path_factory.mktemp("chat")).start()
    yield proc
    proc.stop()


def _data_lines(response) -> list[str]:
    # iter_lines raises ChunkedEncodingError on a cut chunked stream: that fails the test too.
    return [line[len("data: "):] for line in response.iter_lines(decode_unicode=True)
            if line.startswith("data: ")]


def _assert_upstream_error(reply, kind):
    assert reply.status_code == 502, reply.text
    assert reply.headers["Content-Type"].startswith("application/json")
    assert reply.json()["code"] == "upstream_error"
    if kind == "error_in_200":
        assert MIDWAY_ERROR in reply.json()["error"]


@pytest.mark.parametrize("kind", KINDS)
def test_chat_is_a_502(chat, kind):
    reply = requests.post(f"{chat.url}/api/chat", json={"message": "hola", "model": f"{kind}:start"},
                          timeout=10)
    _assert_upstream_error(reply, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_openai_completion_is_a_502(chat, kind):
    reply = requests.post(f"{chat.url}/v1/chat/completions",
                          json={"model": f"{kind}:start", "messages": MESSAGES}, timeout=10)
    _assert_upstream_error(reply, kind)


@pytest.mark.parametrize("path", ["/api/chat/stream", "/v1/chat/completions"])
@pytest.mark.parametrize("kind", KINDS)
def test_stream_bad_from_the_start_is_a_502_before_any_byte(chat, kind, path):
    body = ({"message": "hola", "model": f"{kind}:start"} if path == "/api/chat/stream"
            else {"model": f"{kind}:start", "messages": MESSAGES, "stream": True})
    reply = requests.post(f"{chat.url}{path}", json=body, timeout=10)
    _assert_upstream_error(reply, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_our_stream_bad_midway_ends_with_an_error_event(chat, kind):
    with requests.post(f"{chat.url}/api/chat/stream", json={"message": "hola", "model": f"{kind}:mid"},
                       stream=True, timeout=10) as reply:
        assert reply.status_code == 200
        events = [json.loads(data) for data in _data_lines(reply)]
    assert [e["content"] for e in events[:2]] == ["¡Hola!", " Soy"]
    last = events[-1]
    assert last["done"] is True and last["code"] == "upstream_error" and last["error"]
    if kind == "error_in_200":
        assert MIDWAY_ERROR in last["error"]


@pytest.mark.parametrize("kind", KINDS)
def test_openai_stream_bad_midway_ends_with_an_error_event(chat, kind):
    with requests.post(f"{chat.url}/v1/chat/completions",
                       json={"model": f"{kind}:mid", "messages": MESSAGES, "stream": True},
                       stream=True, timeout=10) as reply:
        assert reply.status_code == 200
        data = _data_lines(reply)
    chunks = [json.loads(d) for d in data if d != "[DONE]"]
    contents = [c["choices"][0]["delta"].get("content") for c in chunks if "choices" in c]
    assert contents[1:3] == ["¡Hola!", " Soy"]
    error = chunks[-1]["error"]
    assert error["code"] == "upstream_error" and error["type"] == "upstream_error"
    assert "[DONE]" not in data  # an error is not a finished answer
    if kind == "error_in_200":
        assert MIDWAY_ERROR in error["message"]


def test_the_service_still_answers_afterwards(chat):
    assert requests.get(f"{chat.url}/health", timeout=10).json()["status"] == "ok"
    good = requests.post(f"{chat.url}/api/chat", json={"message": "hola"}, timeout=10)
    assert good.status_code == 200 and good.json()["response"]
    assert "Traceback" not in chat.log()


@pytest.mark.parametrize("kind", KINDS)
def test_consensus_counts_a_malformed_answer_as_that_models_upstream_error(bad_ollama, kind):
    outcome = ask_all(OllamaClient(bad_ollama.url), [Call(f"{kind}:start", MESSAGES, timeout=10)],
                      options={})
    [failure] = outcome.failures
    assert failure.code == "upstream_error"
    if kind == "error_in_200":
        assert MIDWAY_ERROR in failure.error
