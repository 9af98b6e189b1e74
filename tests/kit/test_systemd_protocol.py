"""The service speaks systemd's protocols: a passed listening socket
(LISTEN_FDS/LISTEN_PID), READY=1/STATUS=/WATCHDOG=1 on NOTIFY_SOCKET, and a
clean stop on SIGTERM. The test plays systemd's part with real sockets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import requests

from tests.processes import ROOT


def receive_until(notify: socket.socket, wanted: str, timeout: float = 30) -> list[str]:
    messages = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        notify.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            data = notify.recv(4096).decode()
        except socket.timeout:
            break
        messages.extend(data.splitlines())
        if wanted in messages:
            return messages
    raise AssertionError(f"{wanted} not received; got {messages}")


def test_serves_on_a_passed_socket_and_notifies_systemd(tmp_path, fake_ollama):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify_path = str(tmp_path / "notify.sock")
    notify.bind(notify_path)

    env = {**os.environ, "NOTIFY_SOCKET": notify_path, "LISTEN_FDS": "1", "WATCHDOG_USEC": "400000",
           "OLLAMA_URL": fake_ollama.url, "CAPIBARA6_STATE_DIR": str(tmp_path / "state")}
    # As systemd does: the socket is fd 3, and LISTEN_PID names the service's own
    # pid (sh's $$ survives the exec). The port given on the command line is unused.
    proc = subprocess.Popen(
        ["sh", "-c", 'LISTEN_PID=$$ exec "$@"', "sh", sys.executable, "-m", "capibara6",
         "serve", "chat", "--port", "1"],
        env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True,
        pass_fds=(3,), preexec_fn=lambda: os.dup2(listener.fileno(), 3))
    try:
        messages = receive_until(notify, "READY=1")
        assert any(m.startswith("STATUS=") for m in messages)
        reply = requests.get(f"http://127.0.0.1:{port}/health", timeout=5)
        assert reply.status_code == 200 and reply.json()["service"] == "capibara6-chat"
        chat = requests.post(f"http://127.0.0.1:{port}/api/chat", json={"message": "hola"}, timeout=5)
        assert chat.status_code == 200
        receive_until(notify, "WATCHDOG=1", timeout=5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        receive_until(notify, "STOPPING=1", timeout=5)
        log = proc.stderr.read()
        assert "sockets passed by systemd" in log and "Traceback" not in log
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stderr.close()
        notify.close()
        listener.close()



def test_sigterm_drains_accepted_connections_and_requests_in_flight(service):
    """A restart must not cut off what the old process already accepted: a
    request being answered, and a connection whose request is still on its way."""
    import threading

    from tests.fakes.ollama_server import FakeModel, FakeOllama

    with FakeOllama([FakeModel("llama3.2:latest", reply="tarde pero llega", first_token_delay=1.0)]) as fake:
        chat = service("chat", {"OLLAMA_URL": fake.url})
        replies = []
        worker = threading.Thread(target=lambda: replies.append(
            requests.post(f"{chat.url}/api/chat", json={"message": "hola"}, timeout=20)))
        worker.start()
        while not fake.stats.chat_requests:  # that request has reached Ollama: it is in flight
            time.sleep(0.02)
        early = socket.create_connection(("127.0.0.1", chat.port), timeout=20)
        time.sleep(0.1)  # accepted by the server, nothing sent yet
        chat.proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        early.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := early.recv(65536):
            answer += chunk
        early.close()
        worker.join(20)
        assert chat.proc.wait(20) == 0
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert replies and replies[0].status_code == 200
    assert replies[0].json()["response"] == "tarde pero llega"
    assert "draining" in chat.log()
