"""waitress believes X-Forwarded-* from the proxy (nginx on loopback) only: the
client's address and scheme reach the app; from another peer they are dropped."""

from __future__ import annotations

import http.client
import json
import threading

import pytest
import waitress

from capibara6.kit.serve import waitress_options


def echo(environ, start_response):
    body = json.dumps({key: environ.get(key) for key in ("REMOTE_ADDR", "wsgi.url_scheme", "HTTP_HOST")}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture
def server_for():
    servers = []

    def start(trusted_proxy):
        server = waitress.create_server(echo, host="127.0.0.1", port=0,
                                        **waitress_options(threads=2, trusted_proxy=trusted_proxy))
        threading.Thread(target=server.run, daemon=True).start()
        servers.append(server)
        return server.effective_port

    yield start
    for server in servers:
        server.close()


def ask(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/", headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https",
                                      "X-Forwarded-Host": "chat.example.org"})
    answer = json.loads(conn.getresponse().read())
    conn.close()
    return answer


def test_forwarded_headers_from_the_loopback_proxy_are_honoured(server_for):
    assert ask(server_for("127.0.0.1")) == {"REMOTE_ADDR": "203.0.113.9", "wsgi.url_scheme": "https",
                                            "HTTP_HOST": "chat.example.org"}


def test_forwarded_headers_from_another_peer_are_dropped(server_for):
    answer = ask(server_for("192.0.2.1"))  # the request comes from 127.0.0.1, not that proxy
    assert answer["REMOTE_ADDR"] == "127.0.0.1"
    assert answer["wsgi.url_scheme"] == "http"
