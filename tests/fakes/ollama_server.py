"""A fake of the Ollama HTTP API, for tests, benchmarks and the local demo.

It stands in for Ollama (a system we do not own and cannot run here) and
speaks its wire format for what Capibara6 uses: POST /api/chat (NDJSON
stream or one object, with Ollama's field names and final stats),
POST /api/generate, GET /api/tags, GET /api/version, and a 404 for an
unknown model. tests/test_fake_ollama.py checks it with the official
`ollama` Python client, so it stays honest.

Each model has a reply and timing; failure modes: "hang" (accept, never
answer), "die" (stream a few tokens, then drop the connection), "error"
(HTTP 500). FakeOllama.refuse() closes the listening socket so connections
are refused. Standard library only, so the demo can run it on a bare host:

    python3 ollama_server.py --host 0.0.0.0 --port 11434 --model llama3.2:latest
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT_REPLY = "¡Hola! Soy Capibara6, tu asistente. ¿En qué puedo ayudarte hoy?"


@dataclass
class FakeModel:
    name: str
    reply: str = DEFAULT_REPLY
    token_delay: float = 0.0         # seconds between streamed tokens
    first_token_delay: float = 0.0   # seconds before the first token (or the whole answer)
    failure: str | None = None       # None, "hang", "die" or "error"
    die_after_tokens: int = 2
    echo: bool = False               # reply with the last user message instead
    # When set, the stream waits for it after the first token: a test can see
    # that token arrive before Ollama has sent anything more.
    gate: threading.Event | None = None

    def tokens_for(self, messages: list[dict]) -> list[str]:
        text = self.reply
        if self.echo:
            users = [m.get("content", "") for m in messages if m.get("role") == "user"]
            text = users[-1] if users else ""
        return re.findall(r"\s*\S+", text) or [""]


@dataclass
class Stats:
    requests: int = 0
    chat_requests: list = field(default_factory=list)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 makes a burst of connections wait a second.
    request_queue_size = 256
    allow_reuse_address = True


class FakeOllama:
    def __init__(self, models: list[FakeModel] | None = None, host: str = "127.0.0.1", port: int = 0,
                 version: str = "0.12.6"):
        self.models: dict[str, FakeModel] = {}
        for model in models or [FakeModel("llama3.2:latest")]:
            self.add(model)
        self.version = version
        self.stats = Stats()
        self.stopping = threading.Event()
        self._server = _Server((host, port), self._handler_class())
        self.host, self.port = self._server.server_address[:2]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def add(self, model: FakeModel) -> None:
        self.models[model.name] = model

    def find(self, name: str) -> FakeModel | None:
        # Ollama resolves a name without a tag to ":latest".
        if name in self.models:
            return self.models[name]
        if ":" not in name:
            return self.models.get(f"{name}:latest")
        return None

    def start(self) -> "FakeOllama":
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-ollama",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def refuse(self) -> None:
        """Stop listening: new connections are refused, as when Ollama is down."""
        self.stop()

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if not self.stopping.is_set():
            self.stop()

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "fake-ollama"

            def setup(self):
                super().setup()
                # http.server writes headers and body apart: without this, Nagle
                # and delayed ACK stall each keep-alive request by ~40 ms.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args):
                pass

            # -- plumbing --
            def _json(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> dict | None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    return json.loads(raw or b"{}")
                except ValueError:
                    self._json(400, {"error": "invalid character in JSON body"})
                    return None

            def _chunk(self, obj: dict) -> None:
                data = (json.dumps(obj) + "\n").encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            def _hang(self) -> None:
                fake.stopping.wait(3600)
                self.close_connection = True

            # -- routes --
            def do_GET(self):
                fake.stats.requests += 1
                if self.path == "/api/version":
                    self._json(200, {"version": fake.version})
                elif self.path == "/api/tags":
                    self._json(200, {"models": [_tag(m.name) for m in fake.models.values()]})
                elif self.path == "/":
                    data = b"Ollama is running"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                else:
                    self._json(404, {"error": "404 page not found"})

            def do_POST(self):
                fake.stats.requests += 1
                if self.path not in ("/api/chat", "/api/generate"):
                    body = self._body()
                    if body is not None:
                        self._json(404, {"error": "404 page not found"})
                    return
                body = self._body()
                if body is None:
                    return
                name = body.get("model") or ""
                model = fake.find(name)
                if model is None:
                    self._json(404, {"error": f'model "{name}" not found, try pulling it first'})
                    return
                if self.path == "/api/chat":
                    fake.stats.chat_requests.append(body)
                    messages = body.get("messages") or []
                else:
                    messages = [{"role": "user", "content": body.get("prompt", "")}]
                self._answer(model, body, messages, chat=self.path == "/api/chat")

            def _answer(self, model: FakeModel, body: dict, messages: list[dict], chat: bool):
                if model.failure == "hang":
                    return self._hang()
                if model.failure == "error":
                    return self._json(500, {"error": "llama runner process has terminated"})
                started = time.perf_counter_ns()
                if model.first_token_delay:
                    time.sleep(model.first_token_delay)
                tokens = model.tokens_for(messages)
                limit = (body.get("options") or {}).get("num_predict")
                if isinstance(limit, int) and limit > 0:
                    tokens = tokens[:limit]
                prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages) + 4
                stream = body.get("stream", True)

                def piece(text: str, done: bool) -> dict:
                    out = {"model": model.name, "created_at": _now()}
                    if chat:
                        out["message"] = {"role": "assistant", "content": text}
                    else:
                        out["response"] = text
                    out["done"] = done
                    return out

                def final(text: str) -> dict:
                    out = piece(text, True)
                    elapsed = time.perf_counter_ns() - started
                    out.update({
                        "done_reason": "length" if limit and len(tokens) >= limit else "stop",
                        "total_duration": elapsed, "load_duration": 1_000_000,
                        "prompt_eval_count": prompt_tokens, "prompt_eval_duration": 2_000_000,
                        "eval_count": len(tokens), "eval_duration": max(elapsed - 3_000_000, 1),
                    })
                    if not chat:
                        out["context"] = [1, 2, 3]
                    return out

                if not stream:
                    if model.failure == "die":
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    time.sleep(model.token_delay * len(tokens))
                    return self._json(200, final("".join(tokens)))

                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for index, token in enumerate(tokens):
                        if model.failure == "die" and index == model.die_after_tokens:
                            # Drop the connection without the last chunk, as a crashed runner does.
                            self.close_connection = True
                            self.connection.shutdown(socket.SHUT_RDWR)
                            return
                        if index and model.token_delay:
                            time.sleep(model.token_delay)
                        if index == 1 and model.gate is not None:
                            model.gate.wait(30)
                        self._chunk(piece(token, False))
                    self._chunk(final(""))
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

        return Handler


def _tag(name: str) -> dict:
    family = name.split(":")[0].rstrip("0123456789.") or name
    return {
        "name": name,
        "model": name,
        "modified_at": "2026-10-01T12:00:00.000000000Z",
        "size": 2019393189,
        "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": family,
            "families": [family],
            "parameter_size": "3.2B",
            "quantization_level": "Q4_K_M",
        },
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Fake Ollama API server (tests and demo only)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--model", action="append", default=[],
                        help="a model to offer (repeatable; default llama3.2:latest)")
    parser.add_argument("--token-delay", type=float, default=0.0)
    parser.add_argument("--reply", default=DEFAULT_REPLY)
    args = parser.parse_args(argv)
    names = args.model or ["llama3.2:latest"]
    fake = FakeOllama([FakeModel(n, reply=args.reply, token_delay=args.token_delay) for n in names],
                      host=args.host, port=args.port)
    print(f"fake Ollama on {fake.url} with {', '.join(names)}", flush=True)
    fake._server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
