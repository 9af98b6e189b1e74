"""The OpenAI chat-completions wire format over the same gateway."""

from __future__ import annotations

import json
import time
from typing import Iterator

from capibara6.chat.contracts import CompletionBody
from capibara6.chat.gateway import Gateway, new_id
from capibara6.ollama import OllamaError, as_api_error


def parse(body: CompletionBody, default_model: str) -> dict:
    """A validated body (chat/contracts.py) as the model, Ollama messages and options."""
    cleaned = []
    for message in body.messages:
        content = message.content
        if isinstance(content, list):  # content parts: keep the text ones
            content = "".join(p.get("text", "") for p in content if isinstance(p.get("text"), str))
        role = "system" if message.role == "developer" else message.role
        cleaned.append({"role": role, "content": content})
    options = {}
    max_tokens = body.max_completion_tokens if body.max_completion_tokens is not None else body.max_tokens
    if max_tokens is not None:
        options["num_predict"] = max_tokens
    for name in ("temperature", "top_p"):
        if getattr(body, name) is not None:
            options[name] = getattr(body, name)
    return {"model": body.model or default_model, "messages": cleaned, "options": options,
            "stream": bool(body.stream)}


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
