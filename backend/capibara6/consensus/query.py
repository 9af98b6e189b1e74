"""A consensus request, read and checked against the configuration."""

from __future__ import annotations

from dataclasses import dataclass

from capibara6.consensus.config import METHODS, ConsensusConfig, ModelSpec, Template
from capibara6.kit import validation
from capibara6.kit.errors import BadRequest


@dataclass(frozen=True)
class Query:
    prompt: str
    template: Template
    method: str
    models: tuple[ModelSpec, ...]
    aggregator: ModelSpec
    temperature: float
    max_tokens: int

    def options(self) -> dict:
        return {"temperature": self.temperature, "num_predict": self.max_tokens}

    def unconfigured_models(self, config: ConsensusConfig) -> list[str]:
        """Names the request brought that the config does not list: they must be on Ollama."""
        names = [model.name for model in self.models]
        if self.method == "synthesis":
            names.append(self.aggregator.name)
        return [name for name in dict.fromkeys(names) if not config.is_configured(name)]


def parse_query(body: dict, config: ConsensusConfig, *, max_prompt_chars: int,
                max_models: int) -> Query:
    prompt = validation.text(body, "prompt", max_length=max_prompt_chars)
    template_id = validation.text(body, "template", default=config.defaults.template)
    template = config.templates.get(template_id)
    if template is None:
        raise BadRequest(f"unknown template '{template_id}'; known: {', '.join(config.templates)}",
                         code="unknown_template", field="template")
    method = validation.text(body, "method", default=config.defaults.method)
    if method not in METHODS:
        raise BadRequest(f"'method' must be one of {', '.join(METHODS)}", code="invalid_field",
                         field="method")
    names = validation.list_of(body, "models", default=None, max_items=max_models)
    if names is None:
        names = list(template.models) or [model.name for model in config.enabled_models]
    elif not names:
        raise BadRequest("'models' is empty; name at least one model or leave it out for the "
                         "configured ones", code="invalid_field", field="models")
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise BadRequest("'models' must be a list of model names", code="invalid_field",
                             field="models")
    names = [name.strip() for name in names]
    twice = next((name for index, name in enumerate(names) if name in names[:index]), None)
    if twice is not None:
        # Asking a model twice would give it two votes.
        raise BadRequest(f"'models' names '{twice}' twice", code="invalid_field", field="models")
    aggregator = validation.text(body, "aggregator", default=config.defaults.aggregator).strip()
    return Query(
        prompt=prompt,
        template=template,
        method=method,
        models=tuple(config.model(name) for name in names),
        aggregator=config.model(aggregator),
        temperature=validation.number(body, "temperature", default=config.defaults.temperature,
                                      minimum=0.0, maximum=2.0),
        max_tokens=validation.number(body, "max_tokens", default=config.defaults.max_tokens,
                                     minimum=1, maximum=32768, integer=True),
    )
