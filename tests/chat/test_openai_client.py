"""The official openai client talks to /v1/chat/completions."""

import openai
import pytest


@pytest.fixture
def client(service, fake_ollama):
    chat = service("chat", {"OLLAMA_URL": fake_ollama.url})
    return openai.OpenAI(base_url=f"{chat.url}/v1", api_key="not-needed", max_retries=0)


def test_completion(client):
    completion = client.chat.completions.create(
        model="llama3.2", messages=[{"role": "user", "content": "hola"}], max_tokens=3)
    assert completion.choices[0].message.content == "¡Hola! Soy Capibara6,"
    assert completion.choices[0].finish_reason == "length"
    assert completion.model == "llama3.2:latest"
    assert completion.usage.completion_tokens == 3


def test_stream(client):
    stream = client.chat.completions.create(
        model="qwen2.5:7b", messages=[{"role": "system", "content": "sé breve"},
                                      {"role": "user", "content": "hola"}], stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Respuesta de Qwen."
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_models(client):
    assert {m.id for m in client.models.list()} == {"llama3.2:latest", "qwen2.5:7b"}


def test_unknown_model_raises_not_found(client):
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
