"""Routes of the context & RAG service (port 5003). Logic lives in knowledge.py, rag.py and
calculator.py; bodies in contracts.py."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from capibara6.kit.contract import operation
from capibara6.kit.errors import BadRequest, PayloadTooLarge
from capibara6.mcp import contracts, rag, tools
from capibara6.mcp.calculator import calculate as evaluate
from capibara6.mcp.knowledge import KnowledgeBase

bp = Blueprint("mcp", __name__, url_prefix="/api/mcp")


def _knowledge() -> KnowledgeBase:
    return current_app.extensions["capibara6.mcp"]


def _settings():
    return current_app.extensions["capibara6.mcp.settings"]


def _limits() -> dict:
    return {"max_top_k": _settings().max_top_k}


def _long_text(value: str, name: str) -> str:
    """A text within the prompt limit; longer is a 413, not a silent cut."""
    limit = _settings().max_prompt_chars
    if len(value) > limit:
        raise PayloadTooLarge(f"'{name}' is longer than {limit} characters", code="text_too_long", field=name)
    return value


@bp.get("/contexts")
@operation("The contexts of the knowledge base (facts, clock, documents)", ok=contracts.ContextsReply)
def contexts():
    listed = _knowledge().contexts()
    return jsonify({"contexts": listed, "total": len(listed)})


@bp.get("/context/<context_id>")
@operation("One context's content", ok=contracts.ContextReply, errors=(404,))
def context(context_id: str):
    return jsonify(_knowledge().context(context_id))


@bp.post("/augment")
@operation("Put what the knowledge base knows about a prompt in front of it", body=contracts.AugmentBody,
           context=_limits, ok=contracts.AugmentReply)
def augment(body: contracts.AugmentBody):
    if body.prompt is None and body.query is None:
        raise BadRequest("'prompt' (or 'query') is required", code="missing_field", field="prompt")
    name = "prompt" if body.prompt is not None else "query"
    prompt = _long_text(body.prompt if body.prompt is not None else body.query, name)
    top_k = body.top_k if body.top_k is not None else _settings().top_k
    return jsonify(rag.augment(_knowledge(), prompt, top_k=top_k, contexts=body.contexts))


@bp.post("/calculate")
@operation("Calculate an arithmetic expression", body=contracts.CalculateBody, ok=contracts.CalculateReply)
def calculate(body: contracts.CalculateBody):
    result = evaluate(body.expression, max_chars=_settings().max_expression_chars)
    return jsonify({"expression": body.expression, "result": result})


@bp.post("/verify")
@operation("Is a claim backed by a source of the knowledge base?", body=contracts.VerifyBody,
           ok=contracts.VerifyReply)
def verify(body: contracts.VerifyBody):
    return jsonify(rag.verify(_knowledge(), _long_text(body.claim, "claim")))


@bp.get("/tools")
@operation("The tools this service offers, for a client or a model", ok=contracts.ToolsReply)
def list_tools():
    listed = tools.catalogue()
    return jsonify({"tools": listed, "total": len(listed)})
