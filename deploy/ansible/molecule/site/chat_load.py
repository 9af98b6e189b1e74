"""Clients of the chat gateway that loop while the services restart.

Test-only (the site scenario's side effect copies it to the Ollama host):
THREADS threads per kind loop over POST /api/chat (one JSON answer) and
POST /api/chat/stream (server-sent events) against each URL given, a new
connection per request, until the stop file appears, MAX_SECONDS pass or
MAX_REQUESTS are made. A request fails when it is refused, reset, times
out or answers anything but 200 with a whole body; a stream is cut when its
last event is not `done` or its tokens do not add up to `full_response`.
Prints one JSON line of counts and exits 1 if anything failed or was cut.

    python3 chat_load.py --stop /tmp/stop http://gpu-vm [...]   (nginx, port 80)

Standard library only: the host has python3 and nothing else.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import threading
import time
from urllib.parse import urlsplit

BODY = json.dumps({"message": "Hola"}).encode()


def chat(host: str, port: int, timeout: float) -> None:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("POST", "/api/chat", BODY, {"Content-Type": "application/json", "Connection": "close"})
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"chat: HTTP {response.status}: {data[:200]!r}")
        if not json.loads(data).get("response"):
            raise RuntimeError(f"chat: no response in {data[:200]!r}")
    finally:
        conn.close()


def stream(host: str, port: int, timeout: float) -> str | None:
    """None when the stream ended whole; else why it is cut (raises when it failed to start)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("POST", "/api/chat/stream", BODY,
                     {"Content-Type": "application/json", "Connection": "close"})
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"stream: HTTP {response.status}: {response.read()[:200]!r}")
        events, text = [], ""
        try:
            for line in response:
                if line.startswith(b"data: "):
                    event = json.loads(line[6:])
                    events.append(event)
                    text += event.get("content", "")
        except (OSError, http.client.HTTPException) as exc:
            return f"stream: broken after {len(events)} events: {exc!r}"
        last = events[-1] if events else {}
        if not last.get("done") or "error" in last:
            return f"stream: ended without a done event after {len(events)} events: {last}"
        if text != last.get("full_response"):
            return f"stream: tokens {text!r} differ from full_response {last.get('full_response')!r}"
        return None
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("urls", nargs="+")
    parser.add_argument("--stop", required=True, help="stop once this file exists")
    parser.add_argument("--threads", type=int, default=2, help="threads per kind and URL")
    parser.add_argument("--max-seconds", type=float, default=300)
    parser.add_argument("--max-requests", type=int, default=100000)
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()

    lock = threading.Lock()
    counts = {"chats": 0, "streams": 0, "failed": 0, "cut": 0}
    errors: list[str] = []
    deadline = time.monotonic() + args.max_seconds

    def loop(kind: str, host: str, port: int) -> None:
        while not os.path.exists(args.stop) and time.monotonic() < deadline:
            with lock:
                if counts["chats"] + counts["streams"] >= args.max_requests:
                    return
            failed = cut = None
            try:
                if kind == "chats":
                    chat(host, port, args.timeout)
                else:
                    cut = stream(host, port, args.timeout)
            except Exception as exc:  # refused, reset, timed out, not 200: all count as failed
                failed = f"{kind} {host}:{port}: {exc!r}"
            with lock:
                counts[kind] += 1
                if failed or cut:
                    counts["failed" if failed else "cut"] += 1
                    if len(errors) < 20:
                        errors.append(failed or cut)

    threads = []
    for url in args.urls:
        parts = urlsplit(url)
        for kind in ("chats", "streams"):
            for _ in range(args.threads):
                threads.append(threading.Thread(target=loop, args=(kind, parts.hostname, parts.port)))
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps(dict(counts, seconds=round(time.monotonic() - started, 1),
                          stopped_by="file" if os.path.exists(args.stop) else "limit", errors=errors)))
    return 1 if counts["failed"] or counts["cut"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
