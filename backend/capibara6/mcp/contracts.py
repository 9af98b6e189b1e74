"""The context & RAG service's request and response bodies (kit/contract.py).

Texts over CAPIBARA6_MCP_MAX_PROMPT_CHARS are a 413 (text_too_long), never cut,
checked in app.py; top_k's ceiling is CAPIBARA6_MCP_MAX_TOP_K, through the
validation context as "max_top_k".
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, ValidationInfo
from pydantic_core import PydanticCustomError

from capibara6.kit.contract import Model, Reply, Text

_LONG = "at most CAPIBARA6_MCP_MAX_PROMPT_CHARS characters (20000; longer is a 413)"


def _at_most_max_top_k(value: int, info: ValidationInfo) -> int:
    limit = (info.context or {}).get("max_top_k")
    if limit is not None and value > limit:
        raise PydanticCustomError("invalid_field", "must be at most {limit}", {"limit": limit})
    return value


class AugmentBody(Model):
    prompt: Text | None = Field(None, description=f"The prompt to add context to (or 'query'); {_LONG}")
    query: Text | None = Field(None, description="The same as prompt")
    contexts: list[str] | None = Field(None, max_length=100, description="Only these context ids")
    top_k: Annotated[int, AfterValidator(_at_most_max_top_k)] | None = Field(
        None, ge=1, description="How many sources at most; default CAPIBARA6_MCP_TOP_K (3), "
                                "at most CAPIBARA6_MCP_MAX_TOP_K (20)")


class CalculateBody(Model):
    expression: Text = Field(description="Arithmetic such as (2 + 3) * sqrt(16); at most "
                                         "CAPIBARA6_MCP_MAX_EXPRESSION_CHARS characters (500; longer is a 413)")


class VerifyBody(Model):
    claim: Text = Field(description=f"The claim to check; {_LONG}")


class ContextsReply(Reply):
    contexts: list[dict]
    total: int


class AugmentReply(Reply):
    original_prompt: str
    augmented_prompt: str
    needs_context: bool
    contexts_added: int
    sources: list[dict]


class CalculateReply(Reply):
    expression: str
    result: int | float


class VerifyReply(Reply):
    claim: str
    verified: bool
    confidence: float
    reason: str
    sources: list[dict]


class ToolsReply(Reply):
    tools: list[dict]
    total: int


class ContextReply(Reply):
    """A context's summary fields and its content (facts, the clock's, a document's)."""
