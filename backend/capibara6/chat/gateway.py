"""Chat logic: requests in, Ollama calls, responses out. Knows nothing of Flask."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterator

from capibara6.chat.contracts import ChatBody
from capibara6.kit.errors import BadRequest
from capibara6.ollama import (ChatResult, Done, Failed, OllamaClient, OllamaError, StreamEvent, Token,
                             as_api_error)


@dataclass(frozen=True)
class ChatRequest:
    message: str
    model: str
    max_tokens: int
    temperature: float
    history: list[dict]
    system: str

    def messages(self) -> list[dict]:
        return [{"role": "system", "content": self.system}, *self.history,
                {"role": "user", "content": self.message}]

    def options(self) -> dict:
        return {"num_predict": self.max_tokens, "temperature": self.temperature}


def chat_request(body: ChatBody, *, default_model: str, default_system: str,
                 attachments: list[tuple[str, str]] = ()) -> ChatRequest:
    """A validated body (chat/contracts.py) with the settings' defaults filled in."""
    message = body.message
    for name, content in attachments:
        message += f"\n\n[Archivo adjunto: {name}]\n{content}"
    return ChatRequest(
        message=message,
        model=body.model or default_model,
        max_tokens=body.max_tokens if body.max_tokens is not None else 500,
        temperature=body.temperature if body.temperature is not None else 0.7,
        history=[turn.model_dump() for turn in body.history or ()],
        system=body.system or default_system,
    )


def form_to_body(form: dict) -> dict:
    """A multipart form's fields as the JSON body they stand for (numbers, history)."""
    body: dict = {k: v for k, v in form.items() if k in ("message", "model", "system")}
    for name, kind in (("max_tokens", int), ("temperature", float)):
        if form.get(name) not in (None, ""):
            try:
                body[name] = kind(form[name])
            except ValueError:
                raise BadRequest(f"'{name}' must be a number", code="invalid_field", field=name) from None
    if form.get("history"):
        try:
            body["history"] = json.loads(form["history"])
        except ValueError:
            raise BadRequest("'history' must be a JSON list", code="invalid_field", field="history") from None
    return body


def decode_attachment(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(f"the file '{name}' is not UTF-8 text; only text files can be attached",
                         status=415, code="unsupported_media_type") from None


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


class Gateway:
    """Ollama's answers (ollama.py's results and stream events) for the routes to format."""

    def __init__(self, client: OllamaClient, default_model: str):
        self.client = client
        self.default_model = default_model

    def complete(self, model: str, messages: list[dict], options: dict) -> ChatResult:
        try:
            return self.client.chat(model, messages, options=options)
        except OllamaError as error:
            raise as_api_error(error) from error

    def open_stream(self, model: str, messages: list[dict], options: dict) -> Iterator[StreamEvent]:
        """The answer's events; a failure before the first (unreachable, unknown model,
        busy) raises here and becomes a status."""
        try:
            return self.client.chat_stream(model, messages, options=options)
        except OllamaError as error:
            raise as_api_error(error) from error

    def chat(self, request: ChatRequest) -> dict:
        result = self.complete(request.model, request.messages(), request.options())
        return {
            "response": result.content,
            "content": result.content,
            "model": result.model or request.model,
            "timestamp": now_iso(),
            "tokens": result.completion_tokens,
            "usage": {"prompt_tokens": result.prompt_tokens,
                      "completion_tokens": result.completion_tokens},
        }

    def sse_events(self, request: ChatRequest) -> Iterator[str]:
        """The /api/chat/stream events: tokens as they come, then a done event."""
        events = self.open_stream(request.model, request.messages(), request.options())

        def lines():
            for event in events:
                if isinstance(event, Token):
                    yield sse({"content": event.text, "done": False})
                elif isinstance(event, Done):
                    result = event.result
                    yield sse({"content": "", "done": True, "full_response": result.content,
                               "model": result.model or request.model,
                               "tokens": result.completion_tokens})
                elif isinstance(event, Failed):
                    yield sse({"error": event.message, "code": event.code, "done": True})
        return lines()

    def models(self) -> dict:
        try:
            models = self.client.tags(timeout=5)
            return {"models": models, "current_model": self.default_model, "source": "ollama"}
        except OllamaError:
            return {"models": [{"name": self.default_model}], "current_model": self.default_model,
                    "source": "config"}

    def ollama_check(self) -> tuple[bool, dict]:
        started = time.perf_counter()
        details = {"url": self.client.base_url, "model": self.default_model}
        try:
            installed = self.client.installed(timeout=2)
        except OllamaError as error:
            details.update(status="unreachable", error=str(error),
                           latency_ms=round((time.perf_counter() - started) * 1000, 1),
                           model_available=False)
            return False, details
        details.update(status="ok", latency_ms=round((time.perf_counter() - started) * 1000, 1),
                       model_available=self.default_model in installed)
        return True, details


# Built once: json.dumps with any option builds a new encoder on every call (a stream's every token).
_SSE_JSON = json.JSONEncoder(ensure_ascii=False)


def sse(payload: dict) -> str:
    return f"data: {_SSE_JSON.encode(payload)}\n\n"


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"

