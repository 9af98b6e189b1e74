"""A stand-in for the five services behind nginx, for the capibara6_frontdoor
molecule scenario (which tests nginx and the firewall, not the services).

It listens on each given port (on all addresses, as the services' sockets do
today) and answers every request with JSON naming the port and path, except
`.../stream`, which streams server-sent events: a few `data:` lines, `--gap`
seconds apart, as HTTP/1.1 chunks. It deliberately does NOT send
`X-Accel-Buffering: no` (the real services do): a stream that arrives in pieces
through nginx then proves nginx's own configuration does not buffer it.
Standard library only, so a bare host can run it:

    python3 stream_backend.py --ports 5001,5002,5003,5004,5005 --gap 1
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def handler_for(port: int, gap: float, events: int):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path.split("?")[0].endswith("/stream"):
                self._stream()
                return
            path = self.path.split("?")[0]
            status = 200
            answer = {"port": port, "path": path, "method": self.command, "body_bytes": len(body),
                      "forwarded_for": self.headers.get("X-Forwarded-For", ""),
                      "forwarded_proto": self.headers.get("X-Forwarded-Proto", "")}
            if path == "/health":
                answer["status"] = "ok"
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _stream(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for number in range(events):
                if number:
                    time.sleep(gap)
                piece = f"data: {{\"token\": {number}, \"sent\": {time.time():.3f}}}\n\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        do_GET = do_POST = _answer

        def log_message(self, format, *args):  # noqa: A002 - the journal gets one line per request
            print(f"{port} {self.address_string()} {format % args}", flush=True)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", default="5001,5002,5003,5004,5005")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--gap", type=float, default=1.0, help="seconds between streamed events")
    parser.add_argument("--events", type=int, default=3)
    args = parser.parse_args()
    servers = [ThreadingHTTPServer((args.host, int(port)), handler_for(int(port), args.gap, args.events))
               for port in args.ports.split(",")]
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
