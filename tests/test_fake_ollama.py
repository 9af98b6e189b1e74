"""The fake Ollama checked with the official `ollama` client, so it stays honest."""

import ollama
import pytest
import requests

from tests.fakes.ollama_server import FakeModel, FakeOllama


@pytest.fixture
def fake():
    with FakeOllama([FakeModel("llama3.2:latest", reply="Hola mundo desde Ollama")]) as server:
        yield server


def test_chat_with_the_official_client(fake):
    client = ollama.Client(host=fake.url)
    reply = client.chat(model="llama3.2", messages=[{"role": "user", "content": "hola"}])
    assert reply.message.role == "assistant"
    assert reply.message.content == "Hola mundo desde Ollama"
    assert reply.done is True and reply.done_reason == "stop"
    assert reply.eval_count == 4 and reply.prompt_eval_count > 0


def test_streamed_chat_with_the_official_client(fake):
    client = ollama.Client(host=fake.url)
    chunks = list(client.chat(model="llama3.2:latest", stream=True,
                              messages=[{"role": "user", "content": "hola"}]))
    assert [c.done for c in chunks] == [False] * 4 + [True]
    assert "".join(c.message.content for c in chunks) == "Hola mundo desde Ollama"
    assert chunks[-1].eval_count == 4


def test_generate_list_and_version(fake):
    client = ollama.Client(host=fake.url)
    assert client.generate(model="llama3.2", prompt="hola").response == "Hola mundo desde Ollama"
    streamed = "".join(c.response for c in client.generate(model="llama3.2", prompt="x", stream=True))
    assert streamed == "Hola mundo desde Ollama"
    names = [m.model for m in client.list().models]
    assert names == ["llama3.2:latest"]
    assert requests.get(f"{fake.url}/api/version", timeout=5).json()["version"]


def test_unknown_model_is_a_404_the_client_understands(fake):
    client = ollama.Client(host=fake.url)
    with pytest.raises(ollama.ResponseError) as error:
        client.chat(model="nope:1b", messages=[{"role": "user", "content": "hola"}])
    assert error.value.status_code == 404
    assert "nope:1b" in error.value.error


def test_num_predict_limits_tokens_and_reports_length(fake):
    client = ollama.Client(host=fake.url)
    reply = client.chat(model="llama3.2", messages=[{"role": "user", "content": "hola"}],
                        options={"num_predict": 2})
    assert reply.message.content == "Hola mundo"
    assert reply.done_reason == "length"
