"""A hung Ollama: the service degrades (503 busy past a bound), it does not die.

Each request that waits on Ollama holds a waitress thread for up to
OLLAMA_TIMEOUT. Measured before the bound existed (4 threads, 6 hung chats):
/health gave no answer in 10 s, and the watchdog thread, which asks our own
/health before each WATCHDOG=1, stopped pinging, so systemd (WatchdogSec=30)
would have killed a service that was only waiting. Here the services run
under waitress with 4 threads (2 may wait on Ollama), a fake systemd notify
socket and a 2 s watchdog, in front of a fake Ollama that accepts and never
answers.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

from capibara6.ollama import waiting_limit
from tests.processes import ServiceProcess
from tests.consensus.conftest import write_config
from tests.fakes.ollama_server import FakeModel, FakeOllama

THREADS = 4
LIMIT = waiting_limit(THREADS)


class NotifySocket:
    """Stands in for systemd's NOTIFY_SOCKET; counts the watchdog pings."""

    def __init__(self, path):
        self.path = str(path)
        self.pings = 0
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.path)
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self):
        while not self._stop.is_set():
            try:
                message = self._sock.recv(4096).decode()
            except TimeoutError:
                continue
            if "WATCHDOG=1" in message.splitlines():
                self.pings += 1

    def pings_within(self, seconds: float) -> int:
        before = self.pings
        time.sleep(seconds)
        return self.pings - before

    def close(self):
        self._stop.set()
        self._thread.join()
        self._sock.close()


@pytest.fixture
def hung_ollama():
    fake = FakeOllama([FakeModel("llama3.2:latest", failure="hang"),
                       FakeModel("alpha", failure="hang"), FakeModel("beta", failure="hang")]).start()
    yield fake
    if not fake.stopping.is_set():
        fake.stop()  # releases the hung handlers


@pytest.fixture
def notify(tmp_path):
    sock = NotifySocket(tmp_path / "notify")
    yield sock
    sock.close()


def _start(name, ollama, notify, tmp_path, **env):
    return ServiceProcess(name, {"OLLAMA_URL": ollama.url, "OLLAMA_TIMEOUT": "60",
                                 "CAPIBARA6_THREADS": str(THREADS), "NOTIFY_SOCKET": notify.path,
                                 "WATCHDOG_USEC": "2000000", **env}, tmp_path).start()


def _hold(count: int, send) -> list[threading.Thread]:
    """count requests sent at once on threads of their own; they wait on the hung Ollama."""
    def call():
        try:
            send()
        except requests.RequestException:
            pass  # cut when the fake stops
    threads = [threading.Thread(target=call, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads


def _wait_for(condition, seconds=20.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)


def test_limit_leaves_threads_for_health():
    assert [waiting_limit(n) for n in (1, 2, 4, 16, 64)] == [1, 1, 2, 14, 56]


def test_chat_with_ollama_hung_answers_busy_past_the_bound_and_stays_alive(
        hung_ollama, notify, tmp_path):
    chat = _start("chat", hung_ollama, notify, tmp_path)
    try:
        _hold(THREADS + 2, lambda: requests.post(f"{chat.url}/api/chat", json={"message": "hola"},
                                                 timeout=70))
        _wait_for(lambda: len(hung_ollama.stats.chat_requests) >= LIMIT)

        # Every request past the bound is refused at once, not queued behind the hung ones.
        for path, body in [("/api/chat", {"message": "hola"}),
                           ("/api/chat/stream", {"message": "hola"}),
                           ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hola"}],
                                                     "stream": True})]:
            busy = requests.post(f"{chat.url}{path}", json=body, timeout=10)
            assert busy.status_code == 503, (path, busy.text)
            assert busy.json()["code"] == "busy" and busy.headers["Retry-After"] == "5"
        assert len(hung_ollama.stats.chat_requests) == LIMIT

        health = requests.get(f"{chat.url}/health", timeout=10)
        assert health.status_code == 200
        assert health.json()["status"] == "degraded"
        assert health.json()["checks"]["ollama_waiting"] == {
            "status": "busy", "waiting": LIMIT, "max_waiting": LIMIT}
        assert notify.pings_within(3.5) >= 1, chat.log()
        assert "watchdog: /health did not answer" not in chat.log()
    finally:
        hung_ollama.stop()
    # Once Ollama lets go, the slots are free again.
    _wait_for(lambda: requests.get(f"{chat.url}/health", timeout=10)
              .json()["checks"]["ollama_waiting"]["waiting"] == 0)
    chat.stop()


def test_stream_slot_is_freed_when_the_stream_ends(fake_ollama, notify, tmp_path):
    chat = _start("chat", fake_ollama, notify, tmp_path)
    try:
        for _ in range(LIMIT + 2):
            with requests.post(f"{chat.url}/api/chat/stream", json={"message": "hola"}, stream=True,
                               timeout=10) as reply:
                assert reply.status_code == 200
                assert b'"done": true' in reply.content
        health = requests.get(f"{chat.url}/health", timeout=10).json()
        assert health["checks"]["ollama_waiting"]["waiting"] == 0 and health["status"] == "ok"
    finally:
        chat.stop()


def test_stream_slot_is_freed_when_the_client_goes_away(notify, tmp_path):
    gate = threading.Event()
    with FakeOllama([FakeModel("llama3.2:latest", reply="uno dos tres " * 50, gate=gate)]) as fake:
        chat = _start("chat", fake, notify, tmp_path)
        try:
            body = b'{"message": "hola"}'
            browser = socket.create_connection(("127.0.0.1", chat.port), timeout=10)
            browser.sendall(b"POST /api/chat/stream HTTP/1.1\r\nHost: x\r\nContent-Type: "
                            b"application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            received = b""
            while b"data: " not in received:
                piece = browser.recv(65536)
                assert piece, received
                received += piece
            waiting = requests.get(f"{chat.url}/health", timeout=10).json()["checks"]["ollama_waiting"]
            assert waiting["waiting"] == 1
            browser.close()  # the browser tab is closed mid-answer
            gate.set()  # Ollama goes on; our next writes fail and the stream is dropped
            _wait_for(lambda: requests.get(f"{chat.url}/health", timeout=10)
                      .json()["checks"]["ollama_waiting"]["waiting"] == 0)
        finally:
            chat.stop()


def test_consensus_with_ollama_hung_answers_busy_past_the_bound(hung_ollama, notify, tmp_path):
    config = write_config(tmp_path / "consensus.yaml", {
        "defaults": {"method": "vote", "template": "general", "aggregator": "alpha"},
        "models": [{"name": "alpha", "timeout": 60}, {"name": "beta", "timeout": 60}],
        "templates": {"general": {"name": "General", "system_prompt": "Breve.",
                                  "prompt_format": "{prompt}"}},
    })
    consensus = _start("consensus", hung_ollama, notify, tmp_path,
                       CAPIBARA6_CONSENSUS_CONFIG=str(config))
    try:
        url = f"{consensus.url}/api/consensus/query"
        _hold(LIMIT, lambda: requests.post(url, json={"prompt": "¿Capital?"}, timeout=70))
        _wait_for(lambda: len(hung_ollama.stats.chat_requests) >= 2 * LIMIT)
        busy = requests.post(url, json={"prompt": "¿Capital?"}, timeout=10)
        assert busy.status_code == 503 and busy.json()["code"] == "busy"
        assert busy.headers["Retry-After"] == "5"
        health = requests.get(f"{consensus.url}/health", timeout=10)
        assert health.json()["checks"]["ollama_waiting"]["waiting"] == LIMIT
        assert notify.pings_within(3.5) >= 1, consensus.log()
    finally:
        hung_ollama.stop()
        consensus.stop()
