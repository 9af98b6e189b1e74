"""The OpenAI chat-completions wire format over the same gateway."""

from __future__ import annotations

import time
from typing import Iterator

from capibara6.chat.contracts import CompletionBody
from capibara6.chat.gateway import Gateway, new_id, sse
from capibara6.ollama import ChatResult, Done, Failed, Token


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
    result = gateway.complete(request["model"], request["messages"], request["options"])
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
        "usage": _usage(result),
    }


def stream(gateway: Gateway, request: dict) -> Iterator[str]:
    events = gateway.open_stream(request["model"], request["messages"], request["options"])
    chunk_id, created = new_id("chatcmpl"), int(time.time())

    def chunk(delta: dict, finish: str | None, model: str, usage: dict | None = None) -> str:
        payload = {"id": chunk_id, "object": "chat.completion.chunk", "created": created,
                   "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        if usage is not None:
            payload["usage"] = usage
        return sse(payload)

    def lines():
        model = request["model"]
        yield chunk({"role": "assistant", "content": ""}, None, model)
        for event in events:
            if isinstance(event, Token):
                model = event.model or model
                yield chunk({"content": event.text}, None, model)
            elif isinstance(event, Done):
                yield chunk({}, _finish(event.result.done_reason), event.result.model or model,
                            _usage(event.result))
            elif isinstance(event, Failed):
                yield sse({"error": {"message": event.message, "type": "upstream_error",
                                       "code": event.code}})
                return
        yield "data: [DONE]\n\n"
    return lines()


def models(gateway: Gateway) -> dict:
    listing = gateway.models()
    return {"object": "list", "data": [
        {"id": m.get("name") or m.get("model"), "object": "model", "created": 0, "owned_by": "ollama"}
        for m in listing["models"]]}


def _usage(result: ChatResult) -> dict:
    return {"prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens,
            "total_tokens": result.total_tokens}


def _finish(done_reason: str | None) -> str:
    return "length" if done_reason == "length" else "stop"
