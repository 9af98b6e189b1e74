"""Real services as processes on free ports, for the tests and the benchmarks (bench/).

ServiceProcess starts `python -m capibara6 serve <name>` (the same command
systemd runs) on a free port with a clean environment and its own state
directory, waits until it answers, and stops it with SIGTERM. Its stderr (the
request log) is kept for assertions. The benchmarks import this module as
`tests.processes` from the repository's root (python -m bench.<name>).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServiceProcess:
    def __init__(self, name: str, env: dict, tmp_path: Path, args: list[str] = (),
                 port: int | None = None):
        self.name = name
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / f"{name}-{self.port}.log"
        full_env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("OLLAMA_", "CAPIBARA6_", "NOTIFY_SOCKET", "LISTEN_", "WATCHDOG_"))}
        full_env.setdefault("CAPIBARA6_STATE_DIR", str(tmp_path / f"state-{name}"))
        full_env.setdefault("CAPIBARA6_CACHE_DIR", str(tmp_path / f"cache-{name}"))
        full_env["PYTHONUNBUFFERED"] = "1"
        full_env.update(env)
        self.env = full_env
        self.args = list(args)
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        return [sys.executable, "-m", "capibara6", "serve", self.name, "--port", str(self.port),
                *self.args]

    def start(self, wait: float = 60.0, **popen) -> "ServiceProcess":
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT, cwd=popen.pop("cwd", ROOT), **popen)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                # Any answer will do (a degraded one may take a second); a model import
                # holding the GIL can delay it past the timeout, which is not a failure.
                requests.get(self.url + "/health", timeout=5)
                return self
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not answer within {wait}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self._log.close()
            return self.proc.returncode
        return None
