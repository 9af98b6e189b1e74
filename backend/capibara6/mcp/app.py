"""Routes of the context & RAG service (port 5003). Logic lives in knowledge.py, rag.py and calculator.py."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from capibara6.kit import validation
from capibara6.kit.errors import BadRequest, PayloadTooLarge
from capibara6.mcp import rag, tools
from capibara6.mcp.calculator import calculate as evaluate
from capibara6.mcp.knowledge import KnowledgeBase

bp = Blueprint("mcp", __name__, url_prefix="/api/mcp")


def _knowledge() -> KnowledgeBase:
    return current_app.extensions["capibara6.mcp"]


def _settings():
    return current_app.extensions["capibara6.mcp.settings"]


def _long_text(body: dict, name: str) -> str:
    """A required text field; longer than the prompt limit is a 413, not a silent cut."""
    value = validation.text(body, name)
    limit = _settings().max_prompt_chars
    if len(value) > limit:
        raise PayloadTooLarge(f"'{name}' is longer than {limit} characters", code="text_too_long", field=name)
    return value


@bp.get("/contexts")
def contexts():
    listed = _knowledge().contexts()
    return jsonify({"contexts": listed, "total": len(listed)})


@bp.get("/context/<context_id>")
def context(context_id: str):
    return jsonify(_knowledge().context(context_id))


@bp.post("/augment")
def augment():
    body = validation.json_object(request)
    name = "prompt" if body.get("prompt") is not None else "query"
    if body.get("prompt") is None and body.get("query") is None:
        raise BadRequest("'prompt' (or 'query') is required", code="missing_field", field="prompt")
    prompt = _long_text(body, name)
    contexts = validation.list_of(body, "contexts", default=None, max_items=100)
    if contexts is not None and not all(isinstance(c, str) for c in contexts):
        raise BadRequest("'contexts' must be a list of context ids (strings)", code="invalid_field",
                         field="contexts")
    settings = _settings()
    top_k = validation.number(body, "top_k", default=settings.top_k, minimum=1,
                              maximum=settings.max_top_k, integer=True)
    return jsonify(rag.augment(_knowledge(), prompt, top_k=top_k, contexts=contexts))


@bp.post("/calculate")
def calculate():
    expression = validation.text(validation.json_object(request), "expression")
    result = evaluate(expression, max_chars=_settings().max_expression_chars)
    return jsonify({"expression": expression, "result": result})


@bp.post("/verify")
def verify():
    claim = _long_text(validation.json_object(request), "claim")
    return jsonify(rag.verify(_knowledge(), claim))


@bp.get("/tools")
def list_tools():
    listed = tools.catalogue()
    return jsonify({"tools": listed, "total": len(listed)})
