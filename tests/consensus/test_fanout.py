"""ask_all: every model at once, each bounded as a whole call, late answers abandoned.

The trickling server below stands in for an Ollama host whose reply crawls:
it sends the headers, then a byte now and then, so no single socket read
ever waits long enough for requests' read timeout. Only a deadline on the
whole call stops it.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from capibara6.consensus.fanout import Call, ask_all
from capibara6.ollama import OllamaClient
from tests.fakes.ollama_server import FakeModel, FakeOllama

MESSAGES = [{"role": "user", "content": "hola"}]


class _Crawling(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if self.server.garbage:
            body = b"<html>not json</html>"
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_header("Content-Length", "1000")
        self.end_headers()
        try:
            for _ in range(100):  # a byte every 0.2 s: 20 s in all, never quite silent
                if self.server.stopping.wait(0.2):
                    break
                self.wfile.write(b" ")
                self.wfile.flush()
        except OSError:
            pass
        self.close_connection = True


@pytest.fixture
def crawling_server():
    def start(garbage=False):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Crawling)
        server.daemon_threads = True
        server.garbage = garbage
        server.stopping = threading.Event()
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    servers = []
    yield start
    for server in servers:
        server.stopping.set()
        server.shutdown()
        server.server_close()


def test_a_reply_that_crawls_is_cut_at_the_models_deadline(crawling_server):
    client = OllamaClient(crawling_server(), read_timeout=30)
    outcome = ask_all(client, [Call("crawler", MESSAGES, timeout=0.5)], options={})
    [failure] = outcome.failures
    # Our deadline, not requests' read timeout, which a byte every 0.2 s never trips.
    assert failure.error == "no answer within 0.5s" and failure.code == "upstream_timeout"
    assert outcome.answers == [] and outcome.pending == []


def test_a_reply_that_is_not_json_fails_that_model_at_once(crawling_server):
    client = OllamaClient(crawling_server(garbage=True))
    outcome = ask_all(client, [Call("garbled", MESSAGES, timeout=60)], options={})
    [failure] = outcome.failures
    assert failure.code == "upstream_error" and "could not be read" in failure.error


def test_answers_arrive_in_order_of_arrival_and_a_late_one_is_dropped():
    models = [FakeModel("late", failure="hang"), FakeModel("slow", reply="b", first_token_delay=0.2),
              FakeModel("fast", reply="a")]
    with FakeOllama(models) as fake:
        outcome = ask_all(OllamaClient(fake.url),
                          [Call("late", MESSAGES, 1), Call("slow", MESSAGES, 20),
                           Call("fast", MESSAGES, 20)], options={"num_predict": 5})
    assert [a.model for a in outcome.answers] == ["fast", "slow"]
    assert [(f.model, f.code) for f in outcome.failures] == [("late", "upstream_timeout")]
    assert outcome.answers[0].text == "a" and outcome.answers[0].tokens == 1
    assert outcome.answers[0].prompt_tokens > 0


def test_stop_at_first_answer_leaves_the_rest_pending():
    models = [FakeModel("never", failure="hang"), FakeModel("broken", failure="error"),
              FakeModel("good", reply="sí", first_token_delay=0.1)]
    with FakeOllama(models) as fake:
        outcome = ask_all(OllamaClient(fake.url),
                          [Call("never", MESSAGES, 60), Call("broken", MESSAGES, 60),
                           Call("good", MESSAGES, 60)], options={}, stop_at_first_answer=True)
    assert [a.model for a in outcome.answers] == ["good"]
    assert [f.model for f in outcome.failures] == ["broken"]
    assert outcome.pending == ["never"]


def test_unreachable_ollama_fails_every_model():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    outcome = ask_all(OllamaClient(f"http://127.0.0.1:{port}"),
                      [Call("a", MESSAGES, 5), Call("b", MESSAGES, 5)], options={})
    assert outcome.answers == []
    assert sorted((f.model, f.code) for f in outcome.failures) == [
        ("a", "upstream_unavailable"), ("b", "upstream_unavailable")]
