"""ollama.py as the one place for Ollama's protocol: the typed events of a
stream, one rule for "is this model installed", one OllamaSettings for chat
and consensus. Against the fake Ollama in this process (no service)."""

from __future__ import annotations

import pytest
import urllib3

from capibara6.chat.settings import ChatSettings
from capibara6.consensus.settings import ConsensusSettings
from capibara6.kit.settings import Env
from capibara6.ollama import (Done, Failed, Installed, ModelNotFound, OllamaClient, OllamaSettings,
                              OllamaUnavailable, Token, model_key)
from tests.fakes.ollama_server import FakeModel, FakeOllama
from tests.processes import free_port

MESSAGES = [{"role": "user", "content": "hola"}]


# --- is this model installed --------------------------------------------------------

@pytest.mark.parametrize("asked, listed", [
    ("llama3.2", "llama3.2:latest"),                      # no tag means :latest
    ("llama3.2:latest", "llama3.2:latest"),
    ("Llama3.2:Latest", "llama3.2:latest"),               # Ollama compares names without case
    ("library/llama3.2", "llama3.2:latest"),              # the default namespace ...
    ("registry.ollama.ai/library/llama3.2:latest", "llama3.2:latest"),  # ... and host
    ("qwen2.5:7b", "qwen2.5:7b"),
    ("alguien/modelo", "alguien/modelo:latest"),
    ("ollama.example.org/equipo/modelo", "ollama.example.org/equipo/modelo:latest"),
])
def test_a_model_is_installed_under_any_name_ollama_resolves_to_it(asked, listed):
    assert asked in Installed([listed])


@pytest.mark.parametrize("asked, listed", [
    ("llama3.2:1b", "llama3.2:latest"),                   # another tag is another model
    ("llama3.2", "llama3.2:1b"),
    ("qwen2.5", "qwen2.5:7b"),
    ("alguien/llama3.2", "llama3.2:latest"),              # another namespace
    ("ollama.example.org/library/llama3.2", "llama3.2:latest"),  # another host
    ("llama3.2:latest:latest", "llama3.2:latest"),
])
def test_a_different_model_is_not_installed(asked, listed):
    assert asked not in Installed([listed])


def test_the_tag_is_read_from_the_last_segment_only():
    assert model_key("host.example/ns/modelo:v1") == ("host.example", "ns", "modelo", "v1")
    assert model_key("modelo") == ("registry.ollama.ai", "library", "modelo", "latest")


def test_the_client_reads_installed_models_from_the_tags():
    with FakeOllama([FakeModel("llama3.2:latest"), FakeModel("qwen2.5:7b")]) as fake:
        installed = OllamaClient(fake.url).installed(timeout=5)
    assert "llama3.2" in installed and "qwen2.5:7b" in installed and "qwen2.5" not in installed


# --- the events of a stream ---------------------------------------------------------

def test_a_stream_is_tokens_then_done_with_the_usage():
    with FakeOllama([FakeModel("llama3.2:latest", reply="uno dos tres")]) as fake:
        events = list(OllamaClient(fake.url).chat_stream("llama3.2", MESSAGES))
    tokens, done = events[:-1], events[-1]
    assert tokens and all(isinstance(e, Token) and e.text and e.model == "llama3.2:latest" for e in tokens)
    assert "".join(e.text for e in tokens) == "uno dos tres"
    assert isinstance(done, Done)
    result = done.result
    assert result.content == "uno dos tres" and result.model == "llama3.2:latest"
    assert result.completion_tokens == 3 and result.prompt_tokens > 0
    assert result.total_tokens == result.prompt_tokens + result.completion_tokens


def test_a_failure_before_the_first_event_raises_so_it_can_be_a_status():
    with FakeOllama([FakeModel("llama3.2:latest")]) as fake:
        client = OllamaClient(fake.url)
        with pytest.raises(ModelNotFound):
            client.chat_stream("ghost", MESSAGES)  # the call is made now, not at the first next()
    with pytest.raises(OllamaUnavailable):
        OllamaClient(f"http://127.0.0.1:{free_port()}").chat_stream("llama3.2", MESSAGES)


def test_a_failure_once_the_answer_has_begun_is_the_last_event():
    model = FakeModel("llama3.2:latest", reply="uno dos tres cuatro", failure="die", die_after_tokens=2)
    with FakeOllama([model]) as fake:
        events = list(OllamaClient(fake.url).chat_stream("llama3.2", MESSAGES))
    assert [type(e) for e in events] == [Token, Token, Failed]
    assert events[-1].code == "upstream_error" and "broke" in events[-1].message


def test_streams_one_after_another_keep_one_connection_to_ollama(monkeypatch):
    """A finished stream gives its connection back open: before, urllib3's chunked reader was
    left suspended after the done chunk, closed by the garbage collector as if it had failed,
    and every stream opened a new connection (a handshake, and a TIME_WAIT socket, each)."""
    connects = []
    real_connect = urllib3.connection.HTTPConnection.connect
    monkeypatch.setattr(urllib3.connection.HTTPConnection, "connect",
                        lambda self: connects.append(1) or real_connect(self))
    with FakeOllama([FakeModel("llama3.2:latest", reply="uno dos tres")]) as fake:
        client = OllamaClient(fake.url)
        for _ in range(3):
            assert isinstance(list(client.chat_stream("llama3.2", MESSAGES))[-1], Done)
        for _ in range(2):  # a reader that stops at Done, as the services' formatters do
            for event in client.chat_stream("llama3.2", MESSAGES):
                if isinstance(event, Done):
                    break
        client.chat("llama3.2", MESSAGES)
    assert len(connects) == 1


# --- one OllamaSettings -------------------------------------------------------------

def test_chat_and_consensus_read_the_same_ollama_settings(tmp_path):
    environ = {"OLLAMA_URL": "http://ollama.internal:11434", "OLLAMA_TIMEOUT": "42",
               "CAPIBARA6_OLLAMA_CONNECT_TIMEOUT": "1.5", "OLLAMA_MODEL": "qwen2.5:7b",
               "CAPIBARA6_STATE_DIR": str(tmp_path)}
    chat = ChatSettings.from_env(Env(environ)).ollama
    consensus_env = Env(environ)
    consensus = ConsensusSettings.from_env(consensus_env).ollama
    assert chat == OllamaSettings("http://ollama.internal:11434", 42.0, 1.5, "qwen2.5:7b")
    assert consensus == OllamaSettings("http://ollama.internal:11434", 42.0, 1.5, None)
    # consensus's models come from its config file: it does not read OLLAMA_MODEL
    assert "OLLAMA_MODEL" not in consensus_env.declared
    client = chat.client()
    assert (client.base_url, client.read_timeout, client.connect_timeout) == (
        "http://ollama.internal:11434", 42.0, 1.5)
