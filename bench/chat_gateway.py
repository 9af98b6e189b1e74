"""Chat gateway overhead against the fake Ollama on loopback.

Prints (and saves in bench/results/chat_gateway.json):
- added latency of POST /api/chat over calling the fake's /api/chat directly (p50, p99);
- added time to the first token of /api/chat/stream over the fake's own stream;
- how many of 64 concurrent streams finish without an error, and how long they take.
Targets: p50 added < 2 ms, first-token overhead < 5 ms, 64 streams with no error.

    .venv/bin/python -m bench.chat_gateway [--requests 400] [--streams 64]

--profile N instead: where a /api/chat's time goes inside the chat app (Flask, the
kit, the gateway, the Ollama client; no waitress, no client socket): N calls of the
WSGI app in this process against an in-process fake, timed against the same
OllamaClient call alone, then cProfile's top entries and its own time per package;
then the same for /api/chat/stream's first token and whole streams.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import tempfile
import statistics
import threading
import time
from pathlib import Path

import requests

from bench._common import PYTHON, free_port, percentile, save, start


REPLY = "Los capibaras son los roedores más grandes del mundo y viven en grupos."


def timed_posts(session, url, body, count) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        reply = session.post(url, json=body, timeout=30)
        reply.raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return times


def first_token_times(session, url, body, count, is_token) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        with session.post(url, json=body, stream=True, timeout=30) as reply:
            reply.raise_for_status()
            for line in reply.iter_lines():
                if line and is_token(line):
                    times.append((time.perf_counter() - started) * 1000)
                    break
            for _ in reply.iter_lines():
                pass
    return times


def concurrent_streams(url: str, count: int) -> dict:
    errors, done = [], []
    barrier = threading.Barrier(count)

    def one():
        try:
            barrier.wait(30)
            reply = requests.post(url, json={"message": "cuéntame algo"}, stream=True, timeout=60)
            events = [json.loads(l[6:]) for l in reply.iter_lines(decode_unicode=True) if l.startswith("data: ")]
            if reply.status_code != 200 or not events or not events[-1].get("done") or "error" in events[-1]:
                errors.append(f"{reply.status_code} {events[-1] if events else ''}")
            else:
                done.append(1)
        except Exception as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=one) for _ in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"streams": count, "completed": len(done), "errors": len(errors),
            "seconds": round(time.perf_counter() - started, 3), "first_errors": errors[:3]}


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
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--streams", type=int, default=64)
    parser.add_argument("--profile", type=int, metavar="N", help="profile N in-process calls instead")
    args = parser.parse_args()
    if args.profile:
        profile_app(args.profile)
        return

    fake_port, chat_port = free_port(), free_port()
    fake = start([PYTHON, "-m", "tests.fakes.ollama_server", "--port", str(fake_port),
                  "--reply", REPLY],
                 f"http://127.0.0.1:{fake_port}/api/version")
    slow_port = free_port()
    slow_fake = start([PYTHON, "-m", "tests.fakes.ollama_server", "--port", str(slow_port),
                       "--token-delay", "0.02"], f"http://127.0.0.1:{slow_port}/api/version")
    fake_url = f"http://127.0.0.1:{fake_port}"
    chat = start([PYTHON, "-m", "capibara6", "serve", "chat", "--port", str(chat_port)],
                 f"http://127.0.0.1:{chat_port}/health",
                 env={"OLLAMA_URL": fake_url, "CAPIBARA6_STATE_DIR": "/tmp/capibara6-bench-chat"})
    stream_port = free_port()
    stream_chat = start([PYTHON, "-m", "capibara6", "serve", "chat", "--port", str(stream_port)],
                        f"http://127.0.0.1:{stream_port}/health",
                        env={"OLLAMA_URL": f"http://127.0.0.1:{slow_port}",
                             "CAPIBARA6_STATE_DIR": "/tmp/capibara6-bench-chat"})
    try:
        session = requests.Session()
        direct_body = {"model": "llama3.2:latest", "stream": False,
                       "messages": [{"role": "user", "content": "hola"}]}
        gateway_body = {"message": "hola"}
        print(f"progress: {args.requests} requests each way, interleaved in rounds", flush=True)
        direct, gateway = [], []
        rounds = 4
        for _ in range(rounds):  # interleaved, so drift hits both sides alike
            direct += timed_posts(session, f"{fake_url}/api/chat", direct_body, args.requests // rounds)
            gateway += timed_posts(session, f"http://127.0.0.1:{chat_port}/api/chat", gateway_body,
                                   args.requests // rounds)
        stream_body = dict(direct_body, stream=True)
        direct_first = first_token_times(session, f"{fake_url}/api/chat", stream_body, 200,
                                         lambda line: b'"done": false' in line)
        gateway_first = first_token_times(session, f"http://127.0.0.1:{chat_port}/api/chat/stream",
                                          gateway_body, 200, lambda line: line.startswith(b"data: "))
        print(f"progress: {args.streams} concurrent streams (20 ms between tokens)", flush=True)
        streams = concurrent_streams(f"http://127.0.0.1:{stream_port}/api/chat/stream", args.streams)

        figures = {
            "chat": {
                "direct_p50_ms": round(percentile(direct, 50), 3),
                "direct_p99_ms": round(percentile(direct, 99), 3),
                "gateway_p50_ms": round(percentile(gateway, 50), 3),
                "gateway_p99_ms": round(percentile(gateway, 99), 3),
                "added_p50_ms": round(percentile(gateway, 50) - percentile(direct, 50), 3),
                "added_p99_ms": round(percentile(gateway, 99) - percentile(direct, 99), 3),
                "requests_each": len(direct),
            },
            "first_token": {
                "direct_p50_ms": round(statistics.median(direct_first), 3),
                "gateway_p50_ms": round(statistics.median(gateway_first), 3),
                "added_p50_ms": round(statistics.median(gateway_first) - statistics.median(direct_first), 3),
                "added_p99_ms": round(percentile(gateway_first, 99) - percentile(direct_first, 99), 3),
            },
            "concurrent_streams": streams,
            "targets": {"added_p50_ms": 2, "first_token_added_ms": 5, "streams_without_error": 64},
        }
        c, f = figures["chat"], figures["first_token"]
        print(f"/api/chat          direct p50 {c['direct_p50_ms']:.2f} ms p99 {c['direct_p99_ms']:.2f} ms | "
              f"gateway p50 {c['gateway_p50_ms']:.2f} ms p99 {c['gateway_p99_ms']:.2f} ms | "
              f"added p50 {c['added_p50_ms']:.2f} ms p99 {c['added_p99_ms']:.2f} ms (target p50 < 2)")
        print(f"first token        direct p50 {f['direct_p50_ms']:.2f} ms | gateway p50 {f['gateway_p50_ms']:.2f} ms"
              f" | added p50 {f['added_p50_ms']:.2f} ms p99 {f['added_p99_ms']:.2f} ms (target < 5)")
        print(f"concurrent streams {streams['completed']}/{streams['streams']} completed, "
              f"{streams['errors']} errors, {streams['seconds']} s")
        save("chat_gateway", figures)
    finally:
        for proc in (chat, stream_chat, fake, slow_fake):
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
