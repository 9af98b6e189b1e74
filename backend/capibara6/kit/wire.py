"""The errors waitress answers by itself, before any app runs, in our JSON shape.

waitress refuses a body over max_request_body_size (our CAPIBARA6_MAX_BODY_BYTES)
as soon as the Content-Length says so, or as a chunked body crosses it, and
malformed requests too; its own answer is plain text. JsonErrorChannel makes it
{error, code} like every other error, and closes the connection gently: it stops
writing, then reads and drops what the client still sends for a while, so a
client that writes its whole body before reading gets the answer instead of a
reset (closing a socket with unread data makes the kernel reset it).
"""

from __future__ import annotations

import json
import socket
import time

from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer
from waitress.task import ErrorTask

from capibara6.kit.errors import HTTP_CODES

# How long and how much to read and drop after an early error before closing anyway.
LINGER_SECONDS = 10.0
LINGER_BYTES = 256 * 1024 * 1024


def error_body(status: int, reason: str, detail: str, max_body_bytes: int) -> dict:
    if status == 413:
        return {"error": f"the request body is larger than the limit of {max_body_bytes} bytes",
                "code": "payload_too_large"}
    return {"error": f"{reason}: {detail}", "code": HTTP_CODES.get(status, "bad_request")}


class JsonErrorTask(ErrorTask):
    def execute(self):
        error = self.request.error
        # waitress refuses a body when its length reaches max_request_body_size: the limit is one less.
        body = json.dumps(error_body(error.code, error.reason, error.body,
                                     self.channel.adj.max_request_body_size - 1)).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.channel.linger_after_close = True
        self.write(body)


class JsonErrorChannel(HTTPChannel):
    """A connection like waitress's own, whose early errors are answered in JSON.

    It keeps waitress's readable()/writable()/handle_read(): the server loop calls
    the first two for every connection on every pass, so an override here would be
    paid by every stream. Only a connection that starts lingering after an early
    error becomes a LingeringChannel, whose methods read and drop."""

    error_task_class = JsonErrorTask
    linger_after_close = False

    def handle_close(self):
        if not self.linger_after_close or not self.connected:
            super().handle_close()
            return
        # The answer is flushed: stop writing (the client sees the end of it), keep reading.
        try:
            self.socket.shutdown(socket.SHUT_WR)
        except OSError:
            super().handle_close()
            return
        self.will_close = False
        self.close_when_flushed = False
        self._linger_until = time.monotonic() + LINGER_SECONDS
        self._dropped = 0
        # From the loop's next pass on, this connection reads and drops (see LingeringChannel).
        self.__class__ = LingeringChannel


class LingeringChannel(JsonErrorChannel):
    """A connection whose error answer is sent: it reads and drops what the client still
    sends, until the client closes, LINGER_BYTES or LINGER_SECONDS."""

    _linger_until: float
    _dropped: int

    def readable(self):
        return True

    def writable(self):
        # Only a close asked for (waitress's idle-channel maintenance) writes.
        return self.will_close

    def handle_read(self):
        try:
            data = self.recv(self.adj.recv_bytes)
        except OSError:
            data = b""
        self._dropped += len(data)
        self.last_activity = time.time()
        if not data or self._dropped > LINGER_BYTES or time.monotonic() > self._linger_until:
            self.handle_close()

    def handle_close(self):
        HTTPChannel.handle_close(self)


def answer_errors_in_json(server) -> None:
    """Make every listener of a waitress server (one, or several with socket activation) use
    JsonErrorChannel for the connections it accepts from now on."""
    listeners = server.map.values() if hasattr(server, "map") else server._map.values()
    for listener in list(listeners):
        if isinstance(listener, BaseWSGIServer):
            listener.channel_class = JsonErrorChannel
