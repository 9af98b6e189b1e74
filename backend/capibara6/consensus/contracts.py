"""The consensus service's request and response bodies (kit/contract.py).

Limits from settings (CAPIBARA6_CONSENSUS_MAX_PROMPT_CHARS, _MAX_MODELS) come
through the validation context as "max_chars" and "max_models"; whether a
template or a model exists is the configuration's business (query.py).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from capibara6.kit.contract import Model, Reply, Text, limited


class QueryBody(Model):
    prompt: Annotated[Text, limited("max_chars")] = Field(
        description="The question; at most CAPIBARA6_CONSENSUS_MAX_PROMPT_CHARS characters (32000)")
    template: Text | None = Field(None, description="A template id of GET /api/consensus/templates")
    method: Literal["vote", "weighted", "synthesis", "first"] | None = Field(
        None, description="How answers are combined; default from the configuration")
    models: Annotated[list[Text], limited("max_models", "models")] | None = Field(
        None, min_length=1, description="Model names, each once; at most CAPIBARA6_CONSENSUS_MAX_MODELS "
                                        "(8); default the template's or the configured ones")
    aggregator: Text | None = Field(None, description="The model that writes a synthesis")
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(None, ge=1, le=32768)


class QueryReply(Reply):
    response: str
    model_used: str
    consensus: bool
    consensus_method: str
    models_queried: int
    successful_models: int
    answers: list[dict]
    duration: float


class ModelsReply(Reply):
    models_list: list[str]
    models: list[dict]


class TemplatesReply(Reply):
    templates: dict[str, dict]


class ConfigReply(Reply):
    defaults: dict
    limits: dict
