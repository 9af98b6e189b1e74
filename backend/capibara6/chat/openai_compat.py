"""The OpenAI chat-completions wire format over the same gateway."""

from __future__ import annotations

import json
import time
from typing import Iterator

from capibara6.chat.gateway import Gateway, new_id
from capibara6.kit import validation
from capibara6.kit.errors import BadRequest
from capibara6.ollama import OllamaError, as_api_error

ROLES = ("system", "user", "assistant", "tool", "developer")


def parse(body: dict, default_model: str) -> dict:
    messages = validation.list_of(body, "messages", max_items=1000)
    if not messages:
        raise BadRequest("'messages' must not be empty", code="missing_field", field="messages")
    cleaned = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise BadRequest(f"'messages[{index}]' needs a role ({', '.join(ROLES)})",
                             code="invalid_field", field="messages")
        content = message.get("content")
        if isinstance(content, list):  # content parts: keep the text ones
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if not isinstance(content, str):
            raise BadRequest(f"'messages[{index}].content' must be a string",
                             code="invalid_field", field="messages")
        role = "system" if message["role"] == "developer" else message["role"]
        cleaned.append({"role": role, "content": content})
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    options = {}
    if max_tokens is not None:
        options["num_predict"] = validation.number({"max_tokens": max_tokens}, "max_tokens",
                                                   default=None, minimum=1, maximum=32768, integer=True)
    for name, low, high in (("temperature", 0.0, 2.0), ("top_p", 0.0, 1.0)):
        value = validation.number(body, name, default=None, minimum=low, maximum=high)
        if value is not None:
            options[name] = value
    return {
        "model": validation.text(body, "model", default=default_model),
        "messages": cleaned,
        "options": options,
        "stream": validation.boolean(body, "stream", default=False),
    }


def completion(gateway: Gateway, request: dict) -> dict:
    try:
        result = gateway.client.chat(request["model"], request["messages"], options=request["options"])
    except OllamaError as error:
        raise as_api_error(error) from error
    return {
        "id": new_id("chatcmpl"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": result.model or request["model"],
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": result.content},
            "finish_reason": _finish(result.done_reason),
        }],
        "usage": {"prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens,
                  "total_tokens": result.prompt_tokens + result.completion_tokens},
    }


def stream(gateway: Gateway, request: dict) -> Iterator[str]:
    chunks = gateway.open_stream(request["model"], request["messages"], request["options"])
    chunk_id, created = new_id("chatcmpl"), int(time.time())

    def event(delta: dict, finish: str | None, model: str, usage: dict | None = None) -> str:
        payload = {"id": chunk_id, "object": "chat.completion.chunk", "created": created,
                   "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        if usage is not None:
            payload["usage"] = usage
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

    def events():
        model = request["model"]
        yield event({"role": "assistant", "content": ""}, None, model)
        try:
            for chunk in chunks:
                model = chunk.model or model
                if chunk.content:
                    yield event({"content": chunk.content}, None, model)
                if chunk.done:
                    result = chunk.result
                    usage = {"prompt_tokens": result.prompt_tokens,
                             "completion_tokens": result.completion_tokens,
                             "total_tokens": result.prompt_tokens + result.completion_tokens}
                    yield event({}, _finish(result.done_reason), model, usage)
                    break
        except OllamaError as error:
            code = as_api_error(error).code
            yield f"data: {json.dumps({'error': {'message': str(error), 'type': 'upstream_error', 'code': code}})}\n\n"
            return
        yield "data: [DONE]\n\n"
    return events()


def models(gateway: Gateway) -> dict:
    listing = gateway.models()
    return {"object": "list", "data": [
        {"id": m.get("name") or m.get("model"), "object": "model", "created": 0, "owned_by": "ollama"}
        for m in listing["models"]]}


def _finish(done_reason: str | None) -> str:
    return "length" if done_reason == "length" else "stop"
