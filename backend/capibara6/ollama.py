"""The one Ollama HTTP client; chat and consensus both use it.

Every call has a connect timeout and a read timeout. Failures become one of
a few exceptions that say what happened, which the services map to HTTP
statuses (unreachable 502, timeout 504, unknown model 404). Ollama's replies
are read here and nowhere else: a 200 that is not an answer (not JSON, not
an object, no message text) is a MalformedReply, and Ollama's own
{"error": ...} in a 200 (a runner failing once the answer has begun, whole
or mid-stream) is an OllamaError, so neither reaches a user as an empty
answer; both are 502 upstream_error (as_api_error). Streams come out as
ChatChunk objects whose text and totals are already checked.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Iterator

import requests


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
class ChatResult:
    content: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    done_reason: str | None
    raw: dict


@dataclass(frozen=True)
class ChatChunk:
    """One piece of a streamed answer: the text it adds; the last one also has the result."""

    content: str
    model: str
    result: ChatResult | None = None   # on the last piece: the whole text and its counts

    @property
    def done(self) -> bool:
        return self.result is not None


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
                 waiting: Waiting | None = None):
        """waiting: when set, chat() and chat_stream() (for the whole stream) hold one of
        its slots; consensus bounds whole queries instead, so its client has none."""
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.waiting = waiting
        # One pooled session per thread: requests.Session is not documented thread-safe.
        self._local = threading.local()

    @property
    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            # Ollama sits on our own network: no proxy or .netrc applies, and
            # reading them from the environment costs a quarter of each call.
            session.trust_env = False
        return session

    def _request(self, method: str, path: str, *, json_body=None, stream=False,
                 read_timeout: float | None = None) -> requests.Response:
        url = f"{self.base_url}{path}"
        timeout = (self.connect_timeout, read_timeout or self.read_timeout)
        try:
            response = self._session.request(method, url, json=json_body, stream=stream, timeout=timeout)
        except requests.exceptions.ConnectTimeout as exc:
            raise OllamaUnavailable(f"Ollama at {self.base_url} did not accept a connection "
                                    f"within {self.connect_timeout:g}s") from exc
        except requests.exceptions.ReadTimeout as exc:
            raise OllamaTimeout(f"Ollama at {self.base_url} did not answer "
                                f"within {timeout[1]:g}s") from exc
        except requests.exceptions.RequestException as exc:
            raise OllamaUnavailable(f"Ollama at {self.base_url} is unreachable: "
                                    f"{_reason(exc)}") from exc
        if response.status_code >= 400:
            self._raise_for(response, json_body)
        return response

    @staticmethod
    def _raise_for(response: requests.Response, body) -> None:
        try:
            message = response.json().get("error") or response.text
        except ValueError:
            message = response.text
        response.close()
        model = (body or {}).get("model")
        if response.status_code == 404 and model:
            raise ModelNotFound(model)
        raise OllamaError(f"Ollama answered {response.status_code}: {message.strip()[:300]}",
                          response.status_code)

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

    def chat(self, model: str, messages: list[dict], *, options: dict | None = None,
             timeout: float | None = None) -> ChatResult:
        body = {"model": model, "messages": messages, "stream": False, "options": options or {}}
        with self._slot():
            data = _answer(_body_json(self._request("POST", "/api/chat", json_body=body,
                                                    read_timeout=timeout)))
        return _result(data, _message_text(data))

    def chat_stream(self, model: str, messages: list[dict], *,
                    options: dict | None = None) -> Iterator[ChatChunk]:
        """The answer's pieces as Ollama sends them; the last is done and has the result.

        Raises StreamBroken when the connection ends before the done chunk,
        MalformedReply or OllamaError for a line that is not an answer, and
        OllamaTimeout when no chunk comes within the read timeout.
        """
        body = {"model": model, "messages": messages, "stream": True, "options": options or {}}
        # The slot is held until the stream ends or its reader drops it: a stream holds a thread.
        with self._slot():
            yield from self._stream_chunks(self._request("POST", "/api/chat", json_body=body,
                                                         stream=True))

    def _slot(self):
        return self.waiting.slot() if self.waiting is not None else nullcontext()

    def _stream_chunks(self, response: requests.Response) -> Iterator[ChatChunk]:
        parts: list[str] = []
        try:
            for line in response.iter_lines(chunk_size=None):
                if not line:
                    continue
                try:
                    chunk = _answer(json.loads(line))
                except ValueError as exc:
                    raise MalformedReply(f"Ollama's reply could not be read: a line that is not "
                                         f"JSON ({line[:80]!r})") from exc
                text = _message_text(chunk)
                parts.append(text)
                model_name = chunk.get("model") if isinstance(chunk.get("model"), str) else ""
                if chunk.get("done"):
                    yield ChatChunk(text, model_name, _result(chunk, "".join(parts)))
                    return
                yield ChatChunk(text, model_name)
        except requests.exceptions.ConnectionError as exc:
            # urllib3 reports a read timeout mid-stream as a ConnectionError.
            if "timed out" in str(exc).lower():
                raise OllamaTimeout(f"Ollama sent nothing for {self.read_timeout:g}s mid-stream") from exc
            raise StreamBroken(f"the stream from Ollama broke: {_reason(exc)}") from exc
        except requests.exceptions.RequestException as exc:
            raise StreamBroken(f"the stream from Ollama broke: {_reason(exc)}") from exc
        finally:
            response.close()
        raise StreamBroken("Ollama closed the stream before it was done")


def _body_json(response: requests.Response):
    """The JSON of a whole (not streamed) 200 reply."""
    try:
        return response.json()
    except ValueError:
        text = response.text.strip()
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
