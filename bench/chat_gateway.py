"""Where a chat request's time goes inside the chat app (Flask, the kit, the gateway,
the Ollama client; no waitress, no client socket).

N calls of the WSGI app in this process against an in-process fake Ollama, timed
against the same OllamaClient call alone, then cProfile's top entries and its own
time per package; then the same for /api/chat/stream's first token and whole streams.
Over HTTP, beside a direct call and LiteLLM, the gateway is measured by
bench/side_by_side.py (`make bench`); this is the profile behind its figures.

    .venv/bin/python -m bench.chat_gateway --profile 2000
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import tempfile
import time
from pathlib import Path


REPLY = "Los capibaras son los roedores más grandes del mundo y viven en grupos."


def profile_app(count: int) -> None:
    from werkzeug.test import EnvironBuilder

    import capibara6.chat
    from capibara6.ollama import OllamaClient, Token
    from tests.fakes.ollama_server import FakeModel, FakeOllama

    with FakeOllama([FakeModel("llama3.2:latest", reply=REPLY)]) as fake:
        app = capibara6.chat.create_app({"OLLAMA_URL": fake.url, "CAPIBARA6_LOG_LEVEL": "WARNING",
                                         "CAPIBARA6_STATE_DIR": tempfile.mkdtemp(prefix="bench-chat-")})
        body = json.dumps({"message": "hola"}).encode()
        environ = EnvironBuilder(path="/api/chat", method="POST", data=body, content_type="application/json",
                                 environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_environ()

        def through_app():
            wsgi_input = environ["wsgi.input"]
            wsgi_input.seek(0)
            statuses = []
            b"".join(app(dict(environ), lambda status, headers, exc=None: statuses.append(status)))
            assert statuses[0].startswith("200"), statuses

        # How many connections the fake accepts, and how many its handlers lose to a reset
        # (the client closing a connection with the body's end unread): a client that keeps
        # its connections alive opens a handful, whatever the count of calls.
        connections = {"opened": 0, "reset": 0}
        process_request = fake._server.process_request

        def counted(request, address):
            connections["opened"] += 1
            process_request(request, address)

        def lost(request, address):
            connections["reset"] += 1

        fake._server.process_request, fake._server.handle_error = counted, lost

        def connection_note(calls: str) -> str:
            note = f"the fake accepted {connections['opened']} connections, {connections['reset']} reset, for {calls}"
            connections.update(opened=0, reset=0)
            return note

        client = OllamaClient(fake.url)
        messages = [{"role": "system", "content": "x"}, {"role": "user", "content": "hola"}]
        for _ in range(200):
            through_app()
            client.chat("llama3.2:latest", messages)
        connection_note("the warm-up")
        alone = whole = 0.0
        rounds = 10  # interleaved, so drift on a shared machine hits both alike
        for _ in range(rounds):
            started = time.perf_counter()
            for _ in range(count // rounds):
                client.chat("llama3.2:latest", messages)
            alone += time.perf_counter() - started
            started = time.perf_counter()
            for _ in range(count // rounds):
                through_app()
            whole += time.perf_counter() - started
        count = count // rounds * rounds
        alone, whole = alone / count * 1000, whole / count * 1000
        print(f"Ollama call alone {alone:.3f} ms, through the app {whole:.3f} ms: "
              f"the app adds {whole - alone:.3f} ms a request ({count} each); "
              + connection_note(f"{2 * count} chats"))
        profiler = cProfile.Profile()
        profiler.runcall(lambda: [through_app() for _ in range(count)])
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(30)
        print_by_package(stats, count)

        # The stream: time to its first token, through the app and from the client alone.
        stream_environ = EnvironBuilder(path="/api/chat/stream", method="POST", data=body,
                                        content_type="application/json",
                                        environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_environ()

        def stream_through_app() -> float:
            stream_environ["wsgi.input"].seek(0)
            statuses, first = [], None
            started = time.perf_counter()
            response = app(dict(stream_environ), lambda status, headers, exc=None: statuses.append(status))
            try:
                for chunk in response:
                    if first is None and chunk.startswith(b"data: ") and json.loads(chunk[6:]).get("content"):
                        first = time.perf_counter() - started
            finally:
                getattr(response, "close", lambda: None)()
            assert statuses[0].startswith("200") and first is not None, statuses
            return first

        def stream_alone() -> float:
            first, started = None, time.perf_counter()
            for event in client.chat_stream("llama3.2:latest", messages):
                if first is None and isinstance(event, Token) and event.text:
                    first = time.perf_counter() - started
            return first

        for _ in range(100):
            stream_through_app()
            stream_alone()
        connection_note("the warm-up")
        alone = whole = 0.0
        for _ in range(rounds):
            alone += sum(stream_alone() for _ in range(count // rounds))
            whole += sum(stream_through_app() for _ in range(count // rounds))
        alone, whole = alone / count * 1000, whole / count * 1000
        print(f"\nfirst token: Ollama stream alone {alone:.3f} ms, through the app {whole:.3f} ms: "
              f"the app adds {whole - alone:.3f} ms ({count} each); " + connection_note(f"{2 * count} streams"))
        profiler = cProfile.Profile()
        profiler.runcall(lambda: [stream_through_app() for _ in range(count)])
        print("whole /api/chat/stream requests in the app (each to its done event):")
        print_by_package(pstats.Stats(profiler), count)


# Where a function's own time (tottime) is counted: the first of these its file's path holds.
PACKAGES = (("capibara6/kit", "capibara6 kit (contracts, logs, metrics, errors)"),
            ("capibara6/chat", "capibara6 chat (routes, gateway)"),
            ("capibara6/ollama", "capibara6 Ollama client"),
            ("/flask_cors/", "Flask-CORS"), ("/flask/", "Flask"), ("/werkzeug/", "Werkzeug"),
            ("/pydantic", "pydantic"), ("/prometheus_client/", "prometheus_client (metrics)"),
            ("/urllib3/", "urllib3"), ("http/client", "http.client"),
            ("/email/", "http.client's header parsing (email.feedparser)"), ("/json/", "json"),
            ("/logging/", "logging"), ("socket", "sockets (waiting on the fake: recv, send)"),
            ("bench/", "this harness"))


def print_by_package(stats: pstats.Stats, count: int) -> None:
    """The profile's own time per package, per request (profiler overhead included)."""
    totals: dict[str, float] = {}
    for (path, _line, name), (_calls, _primitive, own, _cumulative, _callers) in stats.stats.items():
        where = path if path != "~" else name  # built-ins: "~" and the method's name
        label = next((label for key, label in PACKAGES if key in where), "other (standard library, built-ins)")
        totals[label] = totals.get(label, 0.0) + own
    whole = sum(totals.values())
    print(f"own time per package, per request (under the profiler, {whole / count * 1000:.3f} ms in all):")
    for label, own in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"  {own / count * 1000:7.3f} ms  {own / whole:5.1%}  {label}")
    other = sorted(((own, f"{Path(path).name}:{name}") for (path, _line, name), (_c, _p, own, _cu, _ca)
                    in stats.stats.items()
                    if not any(key in (path if path != "~" else name) for key, _label in PACKAGES)),
                   reverse=True)
    print("  the most of the other: " + ", ".join(f"{label} {own / count * 1000:.3f} ms"
                                               for own, label in other[:8]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", type=int, metavar="N", default=2000,
                        help="in-process calls to time and profile (default 2000)")
    profile_app(parser.parse_args().profile)


if __name__ == "__main__":
    main()
