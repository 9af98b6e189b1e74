"""A fake of the Ollama HTTP API, for tests, benchmarks and the local demo.

It stands in for Ollama (a system we do not own and cannot run here) and
speaks its wire format for what Capibara6 uses: POST /api/chat (NDJSON
stream or one object, with Ollama's field names and final stats),
POST /api/generate, GET /api/tags, GET /api/version, and a 404 for an
unknown model; and for what the Ansible role capibara6_ollama uses: POST
/api/pull (streamed progress lines), HEAD/POST /api/blobs/sha256:<digest>
and POST /api/create (a model from an uploaded GGUF). tests/test_fake_ollama.py
checks it with the official `ollama` Python client, so it stays honest.

Each model has a reply and timing; failure modes: "hang" (accept, never
answer), "die" (stream a few tokens, then drop the connection), "error"
(HTTP 500), and the malformed 200s of MALFORMED: "not_json", "json_list",
"empty" (no body) and "error_in_200" (Ollama's {"error": ...} in a 200, as
it reports a runner that fails once the answer has begun); with
fail_after_tokens > 0 a stream sends that many good tokens first. FakeOllama.refuse() closes the listening socket so connections
are refused. Standard library only, so a bare host can run it:

    python3 ollama_server.py --host 0.0.0.0 --port 11434 --model llama3.2:latest

As `ollama serve` it is the STAND-IN that tests/fakes/build_ollama_archive.py
packs as bin/ollama of an Ollama-like release archive (the demo and the
molecule scenarios install it with the capibara6_ollama role): it listens on
OLLAMA_HOST, keeps pulled and created models under OLLAMA_MODELS (laid out
like Ollama's: blobs/sha256-<hex>, manifests/...), so they survive restarts,
and answers 500 for the models named in CAPIBARA6_FAKE_OLLAMA_BROKEN (comma
separated), as Ollama does for a model that cannot load:

    python3 ollama_server.py --stand-in-version 0.32.7 serve
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DEFAULT_REPLY = "¡Hola! Soy Capibara6, tu asistente. ¿En qué puedo ayudarte hoy?"
# What a model "weighs" in /api/tags and in the progress of a pull (bytes).
DEFAULT_SIZE = 2019393189
# The error Ollama answers when a model's runner cannot start.
RUNNER_ERROR = "llama runner process has terminated: error loading model"
# What a failing runner says in a 200 (a whole answer, or a line of a stream).
MIDWAY_ERROR = "an error was encountered while running the model: unexpected EOF"
# The body (or the stream's line) of each malformed 200.
MALFORMED = {
    "not_json": b"<html><body>upstream busy</body></html>\n",
    "json_list": b'[{"message": {"role": "assistant", "content": "hola"}, "done": true}]\n',
    "empty": b"",
    "error_in_200": json.dumps({"error": MIDWAY_ERROR}).encode() + b"\n",
}


@dataclass
class FakeModel:
    name: str
    reply: str = DEFAULT_REPLY
    token_delay: float = 0.0         # seconds between streamed tokens
    first_token_delay: float = 0.0   # seconds before the first token (or the whole answer)
    failure: str | None = None       # None, "hang", "die", "error" or a key of MALFORMED
    die_after_tokens: int = 2
    fail_after_tokens: int = 0       # a malformed stream's good tokens before the bad line
    echo: bool = False               # reply with the last user message instead
    # When set, the stream waits for it after the first token: a test can see
    # that token arrive before Ollama has sent anything more.
    gate: threading.Event | None = None
    # What /api/tags reports; a created model keeps its GGUF's digest and settings.
    digest: str = "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72"
    size: int = DEFAULT_SIZE
    settings: dict = field(default_factory=dict)   # template, system, parameters, files

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
    pulls: list = field(default_factory=list)      # model names, in order
    creates: list = field(default_factory=list)    # the /api/create bodies


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _full_name(name: str) -> str:
    """Ollama's canonical form of a model name: a tag always, ":latest" by default."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


class Store:
    """Blobs and model manifests: in memory, or under a models directory laid
    out like Ollama's (blobs/sha256-<hex>, manifests/<registry>/<namespace>/<model>/<tag>)."""

    REGISTRY = "registry.ollama.ai"

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root else None
        self._blobs: dict[str, bytes] = {}
        if self.root:
            (self.root / "blobs").mkdir(parents=True, exist_ok=True)

    def _blob_path(self, digest: str) -> Path:
        return self.root / "blobs" / digest.replace(":", "-")

    def has_blob(self, digest: str) -> bool:
        return self._blob_path(digest).is_file() if self.root else digest in self._blobs

    def blob_head(self, digest: str, size: int = 4) -> bytes:
        if self.root:
            with open(self._blob_path(digest), "rb") as blob:
                return blob.read(size)
        return self._blobs[digest][:size]

    def put_blob(self, digest: str, chunks) -> str | None:
        """Store the chunks under digest; the digest they really have when it differs."""
        hasher = hashlib.sha256()
        if self.root:
            with tempfile.NamedTemporaryFile(dir=self.root / "blobs", delete=False) as tmp:
                for chunk in chunks:
                    hasher.update(chunk)
                    tmp.write(chunk)
            actual = f"sha256:{hasher.hexdigest()}"
            if actual != digest:
                os.unlink(tmp.name)
                return actual
            os.replace(tmp.name, self._blob_path(digest))
            return None
        data = b"".join(chunks)
        actual = f"sha256:{hashlib.sha256(data).hexdigest()}"
        if actual != digest:
            return actual
        self._blobs[digest] = data
        return None

    def _manifest_path(self, name: str) -> Path:
        model, tag = _full_name(name).rsplit(":", 1)
        namespace, _, model = model.rpartition("/")
        return self.root / "manifests" / self.REGISTRY / (namespace or "library") / model / tag

    def save(self, model: FakeModel) -> None:
        if not self.root:
            return
        path = self._manifest_path(model.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {"name": model.name, "digest": model.digest, "size": model.size,
                  "settings": model.settings}
        path.write_text(json.dumps({"schemaVersion": 2, "capibara6_fake_model": record}))

    def load(self) -> list[FakeModel]:
        if not self.root or not (self.root / "manifests").is_dir():
            return []
        models = []
        for path in sorted((self.root / "manifests").rglob("*")):
            if path.is_file():
                record = json.loads(path.read_text())["capibara6_fake_model"]
                models.append(FakeModel(record["name"], digest=record["digest"], size=record["size"],
                                        settings=record["settings"]))
        return models


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 makes a burst of connections wait a second.
    request_queue_size = 256
    allow_reuse_address = True


class FakeOllama:
    def __init__(self, models: list[FakeModel] | None = None, host: str = "127.0.0.1", port: int = 0,
                 version: str = "0.12.6", models_dir: str | os.PathLike | None = None,
                 broken: frozenset[str] = frozenset(), pull_step_delay: float = 0.0,
                 token_delay: float = 0.0):
        """models_dir: keep pulled and created models there (else in memory);
        broken: names of models that answer 500 (Ollama's runner error);
        token_delay: given to every model that has none of its own."""
        self.models: dict[str, FakeModel] = {}
        self.token_delay = token_delay
        self.store = Store(models_dir)
        self.broken = frozenset(_full_name(name) for name in broken)
        self.pull_step_delay = pull_step_delay
        self.unpullable: set[str] = set()      # names the "registry" does not have
        for model in [*(models if models is not None else [FakeModel("llama3.2:latest")]), *self.store.load()]:
            self.add(model)
        self.version = version
        self.stats = Stats()
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()   # open ones, cut when Ollama "goes down"
        self._connections_lock = threading.Lock()
        family = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM)[0][0]
        server_class = type("_FamilyServer", (_Server,), {"address_family": family})
        self._server = server_class((host, port), self._handler_class())
        self.host, self.port = self._server.server_address[:2]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def add(self, model: FakeModel) -> None:
        if _full_name(model.name) in self.broken:
            model.failure = "error"
        if not model.token_delay:
            model.token_delay = self.token_delay
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
        """Go down as Ollama does: new connections are refused and open (keep-alive) ones end."""
        self.stop()

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self._connections_lock:
            for connection in self._connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

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
                with fake._connections_lock:
                    fake._connections.add(self.connection)

            def finish(self):
                with fake._connections_lock:
                    fake._connections.discard(self.connection)
                super().finish()

            def log_message(self, *args):
                pass

            # -- plumbing --
            def _json(self, status: int, body: dict | None = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                if body is not None:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _chunks(self):
                """The request body, piece by piece (Content-Length or chunked)."""
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailers
                            return
                        yield self.rfile.read(size)
                        self.rfile.readline()
                left = int(self.headers.get("Content-Length") or 0)
                while left > 0:
                    chunk = self.rfile.read(min(left, 1 << 20))
                    if not chunk:
                        return
                    left -= len(chunk)
                    yield chunk

            def _body(self) -> dict | None:
                raw = b"".join(self._chunks())
                try:
                    return json.loads(raw or b"{}")
                except ValueError:
                    self._json(400, {"error": "invalid character in JSON body"})
                    return None

            def _chunk(self, obj: dict) -> None:
                data = (json.dumps(obj) + "\n").encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            def _progress(self, body: dict, lines) -> None:
                """Status lines as Ollama sends them: streamed (an error is a line of its
                own, after a 200), or only the last one (an error is a 500)."""
                if not body.get("stream", True):
                    last = {}
                    for last in lines:
                        if "error" in last:
                            break
                    return self._json(500 if "error" in last else 200, last)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for line in lines:
                    self._chunk(line)
                self.wfile.write(b"0\r\n\r\n")
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
                    self._json(200, {"models": [_tag(m) for m in fake.models.values()]})
                elif self.path == "/":
                    data = b"Ollama is running"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                else:
                    self._json(404, {"error": "404 page not found"})

            def do_HEAD(self):
                fake.stats.requests += 1
                digest = self._blob_digest()
                self._json(200 if digest and fake.store.has_blob(digest) else 404)

            def _blob_digest(self) -> str | None:
                match = re.fullmatch(r"/api/blobs/(sha256[:-][0-9a-f]{64})", self.path)
                return match.group(1).replace("-", ":") if match else None

            def do_POST(self):
                fake.stats.requests += 1
                if self.path.startswith("/api/blobs/"):
                    return self._blob_upload()
                routes = {"/api/chat": self._generate, "/api/generate": self._generate,
                          "/api/pull": self._pull, "/api/create": self._create}
                body = self._body()
                if body is None:
                    return
                route = routes.get(self.path)
                if route is None:
                    return self._json(404, {"error": "404 page not found"})
                route(body)

            def _blob_upload(self):
                digest = self._blob_digest()
                if digest is None:
                    for _ in self._chunks():
                        pass
                    return self._json(400, {"error": "invalid digest format"})
                actual = fake.store.put_blob(digest, self._chunks())
                if actual:
                    return self._json(400, {"error": f'digest mismatch, expected "{digest}", got "{actual}"'})
                self._json(201)

            def _pull(self, body: dict):
                name = _full_name(body.get("model") or body.get("name") or "")
                layer = hashlib.sha256(name.encode()).hexdigest()

                def lines():
                    yield {"status": "pulling manifest"}
                    if name in fake.unpullable or name.startswith(":"):
                        yield {"error": "pull model manifest: file does not exist"}
                        return
                    fake.stats.pulls.append(name)
                    for percent in (0, 25, 50, 75, 100):
                        if percent and fake.pull_step_delay:
                            time.sleep(fake.pull_step_delay)
                        yield {"status": f"pulling {layer[:12]}", "digest": f"sha256:{layer}",
                               "total": DEFAULT_SIZE, "completed": DEFAULT_SIZE * percent // 100}
                    yield {"status": "verifying sha256 digest"}
                    yield {"status": "writing manifest"}
                    model = FakeModel(name, digest=hashlib.sha256(layer.encode()).hexdigest())
                    fake.add(model)
                    fake.store.save(model)
                    yield {"status": "success"}

                self._progress(body, lines())

            def _create(self, body: dict):
                name = body.get("model") or body.get("name")
                files = body.get("files") or {}
                if not name or not files:
                    return self._json(400, {"error": "neither 'from' or 'files' was specified"})
                for digest in files.values():
                    if not fake.store.has_blob(digest):
                        return self._json(400, {"error": f"blob {digest} not found"})
                    if fake.store.blob_head(digest) != b"GGUF":
                        return self._json(400, {"error": "invalid file magic"})
                fake.stats.creates.append(body)
                settings = {key: body[key] for key in ("files", "template", "system", "parameters")
                            if body.get(key) is not None}
                weights = next(iter(files.values())).split(":", 1)[1]

                def lines():
                    yield {"status": "parsing GGUF"}
                    for digest in files.values():
                        yield {"status": f"using existing layer {digest}"}
                    yield {"status": "writing manifest"}
                    model = FakeModel(_full_name(name), digest=weights, settings=settings)
                    fake.add(model)
                    fake.store.save(model)
                    yield {"status": "success"}

                self._progress(body, lines())

            def _generate(self, body: dict):
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
                    return self._json(500, {"error": RUNNER_ERROR})
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

                if model.failure in MALFORMED:
                    return self._malformed(model, stream, [piece(t, False) for t in tokens])

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

            def _malformed(self, model: FakeModel, stream: bool, pieces: list[dict]):
                """A 200 whose body (or, streaming, whose line after the good tokens) is bad."""
                bad = MALFORMED[model.failure]
                self.send_response(200)
                if not stream:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(bad)))
                    self.end_headers()
                    self.wfile.write(bad)
                    return
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for good in pieces[:model.fail_after_tokens]:
                    self._chunk(good)
                if bad:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(bad), bad))
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        return Handler


def _tag(model: FakeModel) -> dict:
    name = model.name
    family = name.split(":")[0].rsplit("/", 1)[-1].rstrip("0123456789.") or name
    return {
        "name": name,
        "model": name,
        "modified_at": "2026-10-01T12:00:00.000000000Z",
        "size": model.size,
        "digest": model.digest,
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": family,
            "families": [family],
            "parameter_size": "3.2B",
            "quantization_level": "Q4_K_M",
        },
    }


def parse_ollama_host(value: str) -> tuple[str, int]:
    """OLLAMA_HOST as Ollama reads it: [scheme://]host[:port], default 127.0.0.1:11434."""
    hostport = re.sub(r"^[a-z]+://", "", value.strip()).rstrip("/")
    match = re.fullmatch(r"\[(?P<v6>[^\]]*)\](?::(?P<p6>\d+))?|(?P<host>[^:]*)(?::(?P<port>\d+))?", hostport)
    if not match:
        raise SystemExit(f"ollama (stand-in): cannot parse OLLAMA_HOST={value!r}")
    host = match["v6"] if match["v6"] is not None else match["host"]
    port = match["p6"] or match["port"]
    if not value.strip():
        host = "127.0.0.1"
    return host, int(port or 11434)


def serve(version: str) -> int:
    """`ollama serve`, as the stand-in: the settings Ollama reads from its environment."""
    host, port = parse_ollama_host(os.environ.get("OLLAMA_HOST", ""))
    models_dir = os.environ.get("OLLAMA_MODELS") or os.path.expanduser("~/.ollama/models")
    broken = frozenset(n for n in os.environ.get("CAPIBARA6_FAKE_OLLAMA_BROKEN", "").split(",") if n)
    # Seconds between streamed tokens, as a real model's pace (the site scenario
    # sees tokens arrive one by one through nginx).
    token_delay = float(os.environ.get("CAPIBARA6_FAKE_OLLAMA_TOKEN_DELAY") or 0)
    fake = FakeOllama([], host=host, port=port, version=version, models_dir=models_dir, broken=broken,
                      token_delay=token_delay)
    print(f"ollama STAND-IN {version} (the fake Ollama API of Capibara6's tests, not Ollama) "
          f"on {fake.url}, models in {models_dir}: {', '.join(fake.models) or 'none'}", flush=True)
    fake._server.serve_forever()
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    version = "0.12.6"
    if argv[:1] == ["--stand-in-version"]:
        version, argv = argv[1], argv[2:]
    if argv[:1] == ["serve"]:
        return serve(version)
    if argv[:1] in (["--version"], ["-v"]):
        print(f"ollama version is {version} (stand-in)")
        return 0
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
                      host=args.host, port=args.port, version=version)
    print(f"fake Ollama on {fake.url} with {', '.join(names)}", flush=True)
    fake._server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
