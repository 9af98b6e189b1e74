"""Shared fixtures: the fake Ollama, and real services under waitress.

`service` starts `python -m capibara6 serve <name>` as a real process on a
free port (tests/processes.py: the same command systemd runs), waits until it
answers, and stops it with SIGTERM afterwards. Its stderr (the request log) is
kept for assertions.
"""

from __future__ import annotations

import pytest

from tests.fakes.ollama_server import FakeModel, FakeOllama
from tests.processes import ServiceProcess


@pytest.fixture
def fake_ollama():
    with FakeOllama([FakeModel("llama3.2:latest"), FakeModel("qwen2.5:7b", reply="Respuesta de Qwen.")]) as fake:
        yield fake


@pytest.fixture
def service(tmp_path):
    """Factory: service("chat", {"OLLAMA_URL": ...}) -> a started ServiceProcess."""
    started: list[ServiceProcess] = []

    def start(name: str, env: dict | None = None, **kwargs) -> ServiceProcess:
        wait = kwargs.pop("wait", 60.0)
        proc = ServiceProcess(name, env or {}, tmp_path, **kwargs).start(wait=wait)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()
