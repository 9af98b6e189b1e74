"""The one Ollama HTTP client; chat and consensus both use it.

Every call has a connect timeout and a read timeout. Failures become one of
a few exceptions that say what happened, which the services map to HTTP
statuses (unreachable 502, timeout 504, unknown model 404). Ollama's replies
are read here and nowhere else: a 200 that is not an answer (not JSON, not
an object, no message text) is a MalformedReply, and Ollama's own
{"error": ...} in a 200 (a runner failing once the answer has begun, whole
or mid-stream) is an OllamaError, so neither reaches a user as an empty
answer; both are 502 upstream_error (as_api_error). A stream comes out as
typed events whose text and totals are already checked: Token (a piece of
text), Done (the whole result with its token counts) and Failed (what went
wrong once the answer had begun); the services only format them. Where Ollama
is and how long to wait for it (OllamaSettings) is read here for both chat and
consensus, and so is whether a model is installed (Installed).
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Iterator, Union

import urllib3
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError

if TYPE_CHECKING:
    from capibara6.kit.settings import Env

DEFAULT_URL = "http://127.0.0.1:11434"
_JSON = {"Content-Type": "application/json"}
# Keep-alive connections a client keeps, unless its service says how many threads call it at
# once (chat: its waitress threads): more than consensus's fan-out calls at once, so none is
# dropped and reopened (urllib3 discards a connection given back to a full pool).
_POOL_SIZE = 256


class OllamaError(Exception):
    """Ollama answered, but with an error."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class OllamaUnavailable(OllamaError):
    """Ollama could not be reached (refused, DNS, reset before an answer)."""


class OllamaTimeout(OllamaError):
    """Ollama did not answer within the timeout."""


class ModelNotFound(OllamaError):
    """Ollama does not have the model that was asked for."""

    def __init__(self, model: str):
        super().__init__(f"model '{model}' is not available on the Ollama host", 404)
        self.model = model


class OllamaBusy(OllamaError):
    """As many requests as may wait on Ollama at once already do."""

    RETRY_AFTER_SECONDS = 5

    def __init__(self, limit: int):
        super().__init__(f"{limit} requests are already waiting on Ollama, as many as this service "
                         f"lets wait at once; try again in a few seconds", 503)
        self.limit = limit


class StreamBroken(OllamaError):
    """A stream stopped before Ollama said it was done."""


class MalformedReply(OllamaError):
    """Ollama answered 200 with something that is not one of its answers."""


@dataclass(frozen=True)
class OllamaSettings:
    """Where Ollama answers and how long to wait for it: read once, for chat and consensus."""

    url: str
    timeout: float                  # seconds without a byte from Ollama (per call and mid-stream)
    connect_timeout: float
    model: str | None               # the model when a request names none (chat); None in consensus

    @classmethod
    def from_env(cls, env: "Env", *, default_model: bool) -> "OllamaSettings":
        """default_model: whether this service reads OLLAMA_MODEL (consensus's models
        come from its config file, so it does not, and the settings page says so)."""
        return cls(
            url=env.url("OLLAMA_URL", DEFAULT_URL, doc="Where Ollama answers"),
            timeout=env.float("OLLAMA_TIMEOUT", 120.0, minimum=0.1, maximum=3600,
                              doc="Seconds without a byte from Ollama before a 504"),
            connect_timeout=env.float("CAPIBARA6_OLLAMA_CONNECT_TIMEOUT", 3.0, minimum=0.1, maximum=60,
                                      doc="Seconds to connect to Ollama"),
            model=env.str("OLLAMA_MODEL", "llama3.2:latest", doc="The model when a request names none")
            if default_model else None,
        )

    def client(self, waiting: "Waiting | None" = None, connections: int = _POOL_SIZE) -> "OllamaClient":
        return OllamaClient(self.url, connect_timeout=self.connect_timeout, read_timeout=self.timeout,
                            waiting=waiting, connections=connections)


@dataclass(frozen=True)
class ChatResult:
    content: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    done_reason: str | None
    raw: dict

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


# What a stream yields: Token* then Done, or Token* then Failed.
@dataclass(frozen=True)
class Token:
    """A piece of the answer's text (never empty)."""

    text: str
    model: str                      # as Ollama names it; "" when it did not say


@dataclass(frozen=True)
class Done:
    """The end of the answer: the whole text, its token counts, why it stopped."""

    result: ChatResult


@dataclass(frozen=True)
class Failed:
    """The stream failed once the answer had begun (before that, the call raises)."""

    message: str
    code: str                       # the error code the same failure has as a status (as_api_error)


StreamEvent = Union[Token, Done, Failed]


def model_key(name: str) -> tuple[str, str, str, str]:
    """A model name as Ollama resolves it: [host/][namespace/]model[:tag] with
    registry.ollama.ai, library and latest for the parts left out, compared
    without case (Ollama's types/model ParseName and EqualFold). So `llama3.2`,
    `llama3.2:latest` and `library/llama3.2` are one model; `llama3.2:1b` is another."""
    path, _, last = name.strip().rpartition("/")
    model, colon, tag = last.partition(":")
    segments = path.split("/") if path else []
    namespace = segments[-1] if segments else "library"
    host = segments[-2] if len(segments) > 1 else "registry.ollama.ai"
    return host.lower(), namespace.lower(), model.lower(), (tag if colon else "latest").lower()


class Installed:
    """The models an Ollama host has (its /api/tags), asked by any name Ollama accepts."""

    def __init__(self, names: Iterable[str]):
        self._keys = {model_key(name) for name in names}

    def __contains__(self, name: str) -> bool:
        return model_key(name) in self._keys


def waiting_limit(threads: int) -> int:
    """How many of a service's waitress threads may wait on Ollama at once.

    A hung Ollama holds each caller's thread for up to OLLAMA_TIMEOUT. Were
    every thread held, /health would queue behind them, and with it the
    watchdog's ping (kit/serve.py asks our own /health): systemd would kill a
    service that is only waiting. So some threads never wait on Ollama:
    an eighth of the pool, at least two (with one or two threads in all, one
    may still wait, and nothing is left over).
    """
    return max(1, threads - max(2, threads // 8))


class Waiting:
    """Counts the requests waiting on Ollama; past the limit, OllamaBusy (a 503 busy)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.count = 0
        self._lock = threading.Lock()

    @contextmanager
    def slot(self):
        with self._lock:
            if self.count >= self.limit:
                raise OllamaBusy(self.limit)
            self.count += 1
        try:
            yield
        finally:
            with self._lock:
                self.count -= 1

    def check(self) -> tuple[bool, dict]:
        """/health: degraded ("busy") while every slot is taken; says how many wait."""
        count = self.count
        full = count >= self.limit
        return not full, {"status": "busy" if full else "ok", "waiting": count,
                          "max_waiting": self.limit}


class OllamaClient:
    def __init__(self, base_url: str, *, connect_timeout: float = 3.0, read_timeout: float = 120.0,
                 waiting: Waiting | None = None, connections: int = _POOL_SIZE):
        """waiting: when set, chat() and chat_stream() (for the whole stream) hold one of
        its slots; consensus bounds whole queries instead, so its client has none.
        connections: the keep-alive connections kept, at least as many as call at once."""
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.waiting = waiting
        # One thread-safe pool of keep-alive connections, straight on urllib3: requests'
        # per-call work (merging settings, hooks, cookies) cost a third of a millisecond a
        # call (bench/chat_gateway.py --profile). No proxy or .netrc: Ollama sits on our
        # own network. No retries: a failure is reported as it happened.
        self._pool = urllib3.connection_from_url(self.base_url, maxsize=connections, block=False,
                                                 retries=False)
        self._prefix = urllib3.util.parse_url(self.base_url).path or ""

    def _request(self, method: str, path: str, *, json_body=None, stream=False,
                 read_timeout: float | None = None) -> urllib3.BaseHTTPResponse:
        read = read_timeout or self.read_timeout
        body = None if json_body is None else json.dumps(json_body).encode()
        try:
            response = self._pool.urlopen(method, self._prefix + path, body=body,
                                          headers=_JSON if body is not None else None,
                                          timeout=urllib3.Timeout(connect=self.connect_timeout, read=read),
                                          redirect=False, preload_content=not stream)
        except NewConnectionError as exc:  # before ConnectTimeoutError: urllib3 2 derives it from that
            raise OllamaUnavailable(f"Ollama at {self.base_url} is unreachable: {_reason(exc)}") from exc
        except ConnectTimeoutError as exc:
            raise OllamaUnavailable(f"Ollama at {self.base_url} did not accept a connection "
                                    f"within {self.connect_timeout:g}s") from exc
        except ReadTimeoutError as exc:
            raise OllamaTimeout(f"Ollama at {self.base_url} did not answer within {read:g}s") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise OllamaUnavailable(f"Ollama at {self.base_url} is unreachable: "
                                    f"{_reason(exc)}") from exc
        if response.status >= 400:
            self._raise_for(response, json_body)
        return response

    @staticmethod
    def _raise_for(response: urllib3.BaseHTTPResponse, body) -> None:
        text = _text(response)
        response.release_conn()
        try:
            data = json.loads(text)
            message = (data.get("error") if isinstance(data, dict) else None) or text
        except ValueError:
            message = text
        model = (body or {}).get("model")
        if response.status == 404 and model:
            raise ModelNotFound(model)
        raise OllamaError(f"Ollama answered {response.status}: {str(message).strip()[:300]}",
                          response.status)

    # --- what we use of the API -------------------------------------------------

    def version(self, timeout: float | None = None) -> str:
        data = _answer(_body_json(self._request("GET", "/api/version", read_timeout=timeout)))
        return str(data.get("version") or "")

    def tags(self, timeout: float | None = None) -> list[dict]:
        data = _answer(_body_json(self._request("GET", "/api/tags", read_timeout=timeout)))
        models = data.get("models") or []
        if not isinstance(models, list):
            raise MalformedReply("Ollama's model list could not be read: 'models' is not a list")
        return [m for m in models if isinstance(m, dict)]

    def installed(self, timeout: float | None = None) -> Installed:
        return Installed(name for tag in self.tags(timeout=timeout)
                         for name in (tag.get("name"), tag.get("model")) if isinstance(name, str))

    def chat(self, model: str, messages: list[dict], *, options: dict | None = None,
             timeout: float | None = None) -> ChatResult:
        body = {"model": model, "messages": messages, "stream": False, "options": options or {}}
        with self._slot():
            data = _answer(_body_json(self._request("POST", "/api/chat", json_body=body,
                                                    read_timeout=timeout)))
        return _result(data, _message_text(data))

    def chat_stream(self, model: str, messages: list[dict], *,
                    options: dict | None = None) -> Iterator[StreamEvent]:
        """The answer as events: Token per piece of text, then Done, or Failed.

        The call is made now, and it raises (OllamaError) for any failure before
        the first event, when a service can still answer with a status: Ollama
        unreachable, an unknown model, a first line that is not an answer. Once
        an event is out, a failure (StreamBroken when the connection ends before
        Ollama's done chunk, MalformedReply or OllamaError for a line that is not
        an answer, OllamaTimeout when nothing comes within the read timeout) is
        the last event, Failed.
        """
        body = {"model": model, "messages": messages, "stream": True, "options": options or {}}
        events = self._stream_events(body)
        try:
            first = next(events)
        except StopIteration:  # never: a stream ends in Done or raises
            return iter(())
        return _resume(first, events)

    def _slot(self):
        return self.waiting.slot() if self.waiting is not None else nullcontext()

    def _stream_events(self, body: dict) -> Iterator[StreamEvent]:
        # The slot is held until the stream ends or its reader drops it: a stream holds a thread.
        with self._slot():
            response = self._request("POST", "/api/chat", json_body=body, stream=True)
            parts: list[str] = []
            begun = False
            try:
                for chunk in self._stream_chunks(response):
                    text = _message_text(chunk)
                    parts.append(text)
                    if chunk.get("done"):
                        yield Done(_result(chunk, "".join(parts)))
                        return
                    if text:
                        begun = True
                        yield Token(text, chunk["model"] if isinstance(chunk.get("model"), str) else "")
            except OllamaError as error:
                if not begun:
                    raise
                yield Failed(str(error), as_api_error(error).code)

    def _stream_chunks(self, response: urllib3.BaseHTTPResponse) -> Iterator[dict]:
        """Ollama's stream as its checked objects, up to the done one."""
        whole = False
        # Held here, not only by the loop: once the done chunk is out, the body's end is read
        # through this same iterator (_finish), before anything closes it.
        lines = _lines(response)
        try:
            for line in lines:
                try:
                    chunk = _answer(json.loads(line))
                except ValueError as exc:
                    raise MalformedReply(f"Ollama's reply could not be read: a line that is not "
                                         f"JSON ({line[:80]!r})") from exc
                if chunk.get("done"):
                    whole = True
                yield chunk
                if whole:
                    return
        except ReadTimeoutError as exc:
            raise OllamaTimeout(f"Ollama sent nothing for {self.read_timeout:g}s mid-stream") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise StreamBroken(f"the stream from Ollama broke: {_reason(exc)}") from exc
        finally:
            if whole:
                _finish(lines, response)
            else:  # cut off or given up: this connection goes; the pool opens another
                response.close()
                response.release_conn()
        raise StreamBroken("Ollama closed the stream before it was done")


def _resume(first: StreamEvent, events: Iterator[StreamEvent]) -> Iterator[StreamEvent]:
    yield first
    yield from events


def _lines(response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    """The non-empty lines of a streamed body, each as soon as it has come whole."""
    pending = b""
    for piece in response.stream(None):
        pending += piece
        *lines, pending = pending.split(b"\n")
        yield from (line for line in lines if line.strip())
    if pending.strip():
        yield pending


def _finish(lines: Iterator[bytes], response: urllib3.BaseHTTPResponse) -> None:
    """After the done chunk: read the rest of the body (the chunked terminator, nothing
    else from Ollama) so the connection goes back to the pool open.

    Read through the iterator the lines came from, to its end: left suspended, urllib3's
    chunked reader is closed by the garbage collector, takes that for an error and closes
    the connection, so every stream opened a new one (measured: 300 streams, 300 connects).
    """
    try:
        for _ in lines:
            pass
    except (urllib3.exceptions.HTTPError, OSError):
        response.close()
    _release(response)


def _release(response: urllib3.BaseHTTPResponse) -> None:
    try:
        response.drain_conn()
        response.release_conn()
    except (urllib3.exceptions.HTTPError, OSError):
        response.close()


def _text(response: urllib3.BaseHTTPResponse) -> str:
    return response.data.decode("utf-8", "replace")


def _body_json(response: urllib3.BaseHTTPResponse):
    """The JSON of a whole (not streamed) 200 reply."""
    try:
        return json.loads(response.data)
    except ValueError:
        text = _text(response).strip()
        raise MalformedReply("Ollama's reply could not be read: "
                             + (f"not JSON ({text[:80]!r})" if text else "an empty body")) from None


def _answer(data) -> dict:
    """data when it is one of Ollama's objects; Ollama's {"error": ...} raises OllamaError."""
    if not isinstance(data, dict):
        kind = {list: "a list", str: "a string", type(None): "null"}.get(type(data), "a number")
        raise MalformedReply(f"Ollama's reply could not be read: {kind} where an object belongs")
    if "error" in data:
        raise OllamaError(f"Ollama reported an error: {str(data['error']).strip()[:300]}")
    return data


def _message_text(data: dict) -> str:
    message = data.get("message", {})
    text = message.get("content", "") if isinstance(message, dict) else None
    if not isinstance(text, str):
        raise MalformedReply("Ollama's reply could not be read: its message has no text")
    return text


def _count(value) -> int:
    return value if type(value) is int and value >= 0 else 0


def _result(data: dict, content: str) -> ChatResult:
    model = data.get("model")
    done_reason = data.get("done_reason")
    return ChatResult(
        content=content,
        model=model if isinstance(model, str) else "",
        prompt_tokens=_count(data.get("prompt_eval_count")),
        completion_tokens=_count(data.get("eval_count")),
        done_reason=done_reason if isinstance(done_reason, str) else None,
        raw=data,
    )


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "Connection reset",
                   "Read timed out", "Remote end closed connection", "No route to host"):
        if marker in text:
            return marker.lower()
    return text[:200]


def as_api_error(error: OllamaError):
    """The HTTP error a service answers with when Ollama fails."""
    from capibara6.kit import errors

    if isinstance(error, ModelNotFound):
        return errors.NotFound(str(error), code="model_not_found", model=error.model)
    if isinstance(error, OllamaTimeout):
        return errors.UpstreamTimeout(str(error))
    if isinstance(error, OllamaUnavailable):
        return errors.UpstreamUnavailable(str(error))
    if isinstance(error, OllamaBusy):
        return errors.Busy(str(error), retry_after=OllamaBusy.RETRY_AFTER_SECONDS)
    return errors.UpstreamError(str(error))
