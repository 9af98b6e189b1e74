"""Many people chatting at once: 256 streams held open together, all answered.

A stream holds a waitress thread for its whole life, and chat lets only
ollama.waiting_limit(threads) requests wait on Ollama at once (the rest are
503 busy, so /health keeps threads). With the old 64 threads that was 56:
of 256 concurrent streams 200 were refused (issue #16). Here the service runs
with its default thread count in front of a fake Ollama that sends each
answer's first token and then holds every stream until the test lets go, so
all 256 are provably open at the same moment; no timing is asserted.
"""

from __future__ import annotations

import json
import threading
import time

import requests

from capibara6.chat.settings import DEFAULT_THREADS
from capibara6.ollama import waiting_limit
from tests.fakes.ollama_server import FakeModel, FakeOllama

STREAMS = 256
REPLY = "uno dos tres cuatro cinco seis siete ocho"


def test_256_streams_at_once_all_complete_and_health_still_answers(service):
    assert waiting_limit(DEFAULT_THREADS) >= STREAMS  # else the default could not carry them
    gate = threading.Event()
    model = FakeModel("llama3.2:latest", reply=REPLY, token_delay=0.01, gate=gate)
    with FakeOllama([model]) as fake:
        chat = service("chat", {"OLLAMA_URL": fake.url, "CAPIBARA6_LOG_LEVEL": "WARNING"})
        started = threading.Semaphore(0)
        outcomes: list[tuple[int, list[dict]] | Exception] = []

        def stream():
            events: list[dict] = []
            try:
                with requests.post(f"{chat.url}/api/chat/stream", json={"message": "hola"},
                                   stream=True, timeout=120) as reply:
                    for line in reply.iter_lines(decode_unicode=True):
                        if line.startswith("data: "):
                            events.append(json.loads(line[6:]))
                            if len(events) == 1:
                                started.release()
                    outcomes.append((reply.status_code, events))
            except requests.RequestException as exc:
                outcomes.append(exc)
            finally:
                if not events:
                    started.release()  # refused or failed before a token: counted, so no wait for it

        clients = [threading.Thread(target=stream, daemon=True) for _ in range(STREAMS)]
        for client in clients:
            client.start()
        deadline = time.monotonic() + 120
        for _ in range(STREAMS):  # every stream has its first token (or has ended): all are open
            assert started.acquire(timeout=max(deadline - time.monotonic(), 0.1)), "gave up waiting"

        # With every stream holding a thread, /health is still answered, by the threads left over.
        health = requests.get(f"{chat.url}/health", timeout=30).json()
        gate.set()
        for client in clients:
            client.join(120)

    assert health["checks"]["ollama_waiting"] == {
        "status": "ok", "waiting": STREAMS, "max_waiting": waiting_limit(DEFAULT_THREADS)}
    assert len(outcomes) == STREAMS
    failures = [o for o in outcomes if isinstance(o, Exception) or o[0] != 200 or not o[1]
                or o[1][-1].get("full_response") != REPLY]
    assert not failures, failures[:3]
