"""A service answers on a connection whose descriptor is numbered past 1024 (select()
cannot watch one; kit/serve.py has waitress poll()), and says at start when its open
files limit is below what its connections and threads may need."""

from __future__ import annotations

import http.client
import logging
import os
import resource
import threading

import pytest
import waitress

from capibara6.kit import serve
from capibara6.kit.serve import waitress_options

PAST_SELECT = 1100  # descriptors below this are taken, so the next ones are past select()'s 1024


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


@pytest.fixture
def descriptors_taken():
    """The process's descriptors up to PAST_SELECT held open, the soft limit raised for it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = PAST_SELECT + 64
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the hard open files limit ({hard}) is below {wanted}")
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    held = []
    try:
        with open(os.devnull, "rb") as devnull:
            while not held or held[-1] < PAST_SELECT:
                held.append(os.dup(devnull.fileno()))
        yield
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_connection_numbered_past_1024_is_served(descriptors_taken):
    server = waitress.create_server(hello, host="127.0.0.1", port=0, **waitress_options(threads=2))
    loop = threading.Thread(target=server.run, daemon=True)
    loop.start()
    try:
        assert server.socket.fileno() > 1024
        for _ in range(3):  # the loop keeps running after the first one
            conn = http.client.HTTPConnection("127.0.0.1", server.effective_port, timeout=10)
            try:
                conn.request("GET", "/")
                reply = conn.getresponse()
                assert (reply.status, reply.read()) == (200, b"ok")
            finally:
                conn.close()
        assert loop.is_alive()
    finally:
        server.close()


def test_a_low_open_files_limit_is_warned_about_at_start(monkeypatch, caplog):
    needed = serve.fds_needed(threads=320, connection_limit=1000)
    assert needed > 1000 + 320  # the service's own descriptors count too
    monkeypatch.setattr(serve.resource, "getrlimit", lambda which: (1024, 524288))  # systemd's default
    with caplog.at_level(logging.WARNING, logger="capibara6.serve"):
        serve.check_open_files_limit(threads=320, connection_limit=1000)
    assert any("open files limit 1024" in r.getMessage() and str(needed) in r.getMessage()
               for r in caplog.records)
    caplog.clear()
    monkeypatch.setattr(serve.resource, "getrlimit", lambda which: (needed, 524288))
    with caplog.at_level(logging.WARNING, logger="capibara6.serve"):
        serve.check_open_files_limit(threads=320, connection_limit=1000)
    assert not caplog.records
