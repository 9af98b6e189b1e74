"""The fake Ollama checked with the official `ollama` client, so it stays honest."""

import hashlib
import os
import socket
import subprocess
import sys

import ollama
import pytest
import requests

from tests.fakes import ollama_server
from tests.fakes.ollama_server import FakeModel, FakeOllama, parse_ollama_host

FAKE = ollama_server.__file__


@pytest.fixture
def official():
    """The official client for a URL; each is closed afterwards (its pooled sockets)."""
    clients = []

    def client(url: str) -> ollama.Client:
        clients.append(ollama.Client(host=url))
        return clients[-1]
    yield client
    for each in clients:
        each.close()


@pytest.fixture
def fake():
    with FakeOllama([FakeModel("llama3.2:latest", reply="Hola mundo desde Ollama")]) as server:
        yield server


def test_chat_with_the_official_client(fake, official):
    client = official(fake.url)
    reply = client.chat(model="llama3.2", messages=[{"role": "user", "content": "hola"}])
    assert reply.message.role == "assistant"
    assert reply.message.content == "Hola mundo desde Ollama"
    assert reply.done is True and reply.done_reason == "stop"
    assert reply.eval_count == 4 and reply.prompt_eval_count > 0


def test_streamed_chat_with_the_official_client(fake, official):
    client = official(fake.url)
    chunks = list(client.chat(model="llama3.2:latest", stream=True,
                              messages=[{"role": "user", "content": "hola"}]))
    assert [c.done for c in chunks] == [False] * 4 + [True]
    assert "".join(c.message.content for c in chunks) == "Hola mundo desde Ollama"
    assert chunks[-1].eval_count == 4


def test_generate_list_and_version(fake, official):
    client = official(fake.url)
    assert client.generate(model="llama3.2", prompt="hola").response == "Hola mundo desde Ollama"
    streamed = "".join(c.response for c in client.generate(model="llama3.2", prompt="x", stream=True))
    assert streamed == "Hola mundo desde Ollama"
    names = [m.model for m in client.list().models]
    assert names == ["llama3.2:latest"]
    assert requests.get(f"{fake.url}/api/version", timeout=5).json()["version"]


def test_unknown_model_is_a_404_the_client_understands(fake, official):
    client = official(fake.url)
    with pytest.raises(ollama.ResponseError) as error:
        client.chat(model="nope:1b", messages=[{"role": "user", "content": "hola"}])
    assert error.value.status_code == 404
    assert "nope:1b" in error.value.error


def test_num_predict_limits_tokens_and_reports_length(fake, official):
    client = official(fake.url)
    reply = client.chat(model="llama3.2", messages=[{"role": "user", "content": "hola"}],
                        options={"num_predict": 2})
    assert reply.message.content == "Hola mundo"
    assert reply.done_reason == "length"


# -- what the capibara6_ollama role uses: pull, blobs, create (and the stand-in's `serve`) --

GGUF = b"GGUF" + bytes(20)   # a GGUF header: magic, version and counts (enough for the fake)


def test_streamed_pull_shows_progress_then_lists_the_model(fake, official):
    client = official(fake.url)
    lines = list(client.pull("qwen2.5:0.5b", stream=True))
    assert lines[0].status == "pulling manifest" and lines[-1].status == "success"
    progress = [line for line in lines if line.total]
    assert progress[0].completed == 0 and progress[-1].completed == progress[-1].total
    assert progress[-1].digest.startswith("sha256:")
    assert "qwen2.5:0.5b" in [m.model for m in client.list().models]
    assert client.pull("tinyllama").status == "success"     # not streamed: the last line only
    assert fake.find("tinyllama:latest") is not None


def test_pull_of_a_model_the_registry_lacks_is_an_error_the_client_raises(fake, official):
    fake.unpullable.add("nope:1b")
    client = official(fake.url)
    for stream in (False, True):
        with pytest.raises(ollama.ResponseError) as error:
            list(client.pull("nope:1b", stream=True)) if stream else client.pull("nope:1b")
        assert "file does not exist" in error.value.error
    assert fake.stats.pulls == []


def test_a_gguf_becomes_a_model_through_blobs_and_create(fake, tmp_path, official):
    client = official(fake.url)
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(GGUF)
    digest = client.create_blob(gguf)
    assert requests.head(f"{fake.url}/api/blobs/{digest}", timeout=5).status_code == 200
    assert requests.head(f"{fake.url}/api/blobs/sha256:{'0' * 64}", timeout=5).status_code == 404
    lines = list(client.create("capibara-tiny", files={"tiny.gguf": digest}, template="{{ .Prompt }}",
                               parameters={"num_ctx": 2048}, stream=True))
    assert [line.status for line in lines][-2:] == ["writing manifest", "success"]
    tags = {m.model: m for m in client.list().models}
    assert tags["capibara-tiny:latest"].digest == digest.split(":")[1]
    assert fake.stats.creates[-1]["parameters"] == {"num_ctx": 2048}
    assert client.generate(model="capibara-tiny", prompt="hola", options={"num_predict": 1}).response


def test_blob_with_the_wrong_digest_and_create_without_a_gguf_are_refused(fake, official):
    wrong = f"sha256:{'1' * 64}"
    reply = requests.post(f"{fake.url}/api/blobs/{wrong}", data=GGUF, timeout=5)
    assert reply.status_code == 400 and "digest mismatch" in reply.json()["error"]
    text = b"not a gguf"
    digest = f"sha256:{hashlib.sha256(text).hexdigest()}"
    assert requests.post(f"{fake.url}/api/blobs/{digest}", data=text, timeout=5).status_code == 201
    with pytest.raises(ollama.ResponseError) as error:
        official(fake.url).create("bad", files={"bad.gguf": digest})
    assert error.value.status_code == 400 and "magic" in error.value.error


def test_models_kept_in_a_models_dir_survive_a_restart_and_broken_ones_answer_500(tmp_path, official):
    with FakeOllama([], models_dir=tmp_path) as first:
        client = official(first.url)
        client.pull("llama3.2")
        gguf = tmp_path / "w.gguf"
        gguf.write_bytes(GGUF)
        client.create("local", files={"w.gguf": client.create_blob(gguf)})
    assert (tmp_path / "manifests" / "registry.ollama.ai" / "library" / "llama3.2" / "latest").is_file()
    with FakeOllama([], models_dir=tmp_path, broken=frozenset({"local"})) as second:
        client = official(second.url)
        assert sorted(m.model for m in client.list().models) == ["llama3.2:latest", "local:latest"]
        assert client.generate(model="llama3.2", prompt="x", options={"num_predict": 1}).done
        with pytest.raises(ollama.ResponseError) as error:
            client.generate(model="local", prompt="x")
        assert error.value.status_code == 500 and "llama runner" in error.value.error


@pytest.mark.parametrize(("value", "expected"), [
    ("", ("127.0.0.1", 11434)),
    ("10.0.0.5", ("10.0.0.5", 11434)),
    ("10.0.0.5:8080", ("10.0.0.5", 8080)),
    ("http://ollama-host:11434", ("ollama-host", 11434)),
    ("[::1]:11500", ("::1", 11500)),
    (":11434", ("", 11434)),
])
def test_the_stand_in_reads_ollama_host_as_ollama_does(value, expected):
    assert parse_ollama_host(value) == expected


def test_the_stand_in_serves_as_ollama_serve(tmp_path, official):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, OLLAMA_HOST=f"127.0.0.1:{port}", OLLAMA_MODELS=str(tmp_path / "models"))
    # As a context manager, Popen closes its stdout pipe and waits for the process.
    with subprocess.Popen([sys.executable, FAKE, "--stand-in-version", "9.9.9", "serve"], env=env,
                          stdout=subprocess.PIPE, text=True) as server:
        try:
            assert "STAND-IN 9.9.9" in server.stdout.readline()
            assert official(f"http://127.0.0.1:{port}").pull("llama3.2").status == "success"
            assert requests.get(f"http://127.0.0.1:{port}/api/version", timeout=5).json() == {"version": "9.9.9"}
            assert (tmp_path / "models" / "blobs").is_dir()
        finally:
            server.terminate()
    version = subprocess.run([sys.executable, FAKE, "--stand-in-version", "9.9.9", "--version"],
                             capture_output=True, text=True, check=True).stdout
    assert version.startswith("ollama version is 9.9.9")
