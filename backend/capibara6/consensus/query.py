"""A consensus request, read and checked against the configuration."""

from __future__ import annotations

from dataclasses import dataclass

from capibara6.consensus.config import ConsensusConfig, ModelSpec, Template
from capibara6.consensus.contracts import QueryBody
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


def parse_query(body: QueryBody, config: ConsensusConfig) -> Query:
    """A validated body (contracts.py) checked against the configuration, defaults filled in."""
    template_id = body.template or config.defaults.template
    template = config.templates.get(template_id)
    if template is None:
        raise BadRequest(f"unknown template '{template_id}'; known: {', '.join(config.templates)}",
                         code="unknown_template", field="template")
    names = [name.strip() for name in body.models] if body.models is not None else \
        list(template.models) or [model.name for model in config.enabled_models]
    twice = next((name for index, name in enumerate(names) if name in names[:index]), None)
    if twice is not None:
        # Asking a model twice would give it two votes.
        raise BadRequest(f"'models' names '{twice}' twice", code="invalid_field", field="models")
    aggregator = (body.aggregator or config.defaults.aggregator).strip()
    return Query(
        prompt=body.prompt,
        template=template,
        method=body.method or config.defaults.method,
        models=tuple(config.model(name) for name in names),
        aggregator=config.model(aggregator),
        temperature=body.temperature if body.temperature is not None else config.defaults.temperature,
        max_tokens=body.max_tokens if body.max_tokens is not None else config.defaults.max_tokens,
    )
