"""The consensus configuration: models, weights, timeouts, prompt templates, defaults.

It is one YAML file (see consensus.yaml beside this module for the shape),
read at start and again on SIGHUP. Every key is checked here, so a mistake
stops the service with one line naming the file and the key, and the rest
of the code can trust a ConsensusConfig.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from capibara6.consensus.checks import Checker
from capibara6.kit.settings import ConfigError

METHODS = ("vote", "weighted", "synthesis", "first")
MAX_TIMEOUT_S = 3600.0

# Mixture-of-Agents' aggregate-and-synthesize prompt, in Spanish like the product.
DEFAULT_SYNTHESIS_PROMPT = """\
Varios modelos han respondido a la pregunta de un usuario. Tu tarea es combinar \
sus respuestas en una sola respuesta final, de la mayor calidad posible. Evalúa \
críticamente la información: algunas respuestas pueden ser incorrectas o \
sesgadas. No te limites a copiarlas; escribe una respuesta precisa, completa, \
bien organizada y coherente, sin mencionar que hubo varias respuestas.

Pregunta del usuario:
{prompt}

Respuestas de los modelos:
{answers}"""

_PLACEHOLDER = re.compile(r"\{(prompt|answers)\}")


def fill(template: str, **values: str) -> str:
    """Put values into {prompt}/{answers} in one pass, so a user's text that
    itself contains "{answers}" is left alone (str.format would choke on braces)."""
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), template)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    weight: float
    timeout: float  # seconds for the whole call, not per socket read
    enabled: bool   # enabled models are the default set of a query


@dataclass(frozen=True)
class Template:
    id: str
    name: str
    description: str
    system_prompt: str
    prompt_format: str          # contains {prompt}
    models: tuple[str, ...]     # this template's default set; empty = the enabled models

    def messages(self, prompt: str) -> list[dict]:
        messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        messages.append({"role": "user", "content": fill(self.prompt_format, prompt=prompt)})
        return messages

    def describe(self) -> dict:
        return {"name": self.name, "description": self.description,
                "system_prompt": self.system_prompt, "prompt_format": self.prompt_format,
                "models": list(self.models)}


@dataclass(frozen=True)
class Defaults:
    method: str
    template: str
    aggregator: str             # the model that writes the answer for method "synthesis"
    match_threshold: float      # 1.0: answers agree when equal once normalized; lower: when that similar
    temperature: float
    max_tokens: int
    synthesis_prompt: str       # contains {prompt} and {answers}


@dataclass(frozen=True)
class ConsensusConfig:
    source: str
    models: tuple[ModelSpec, ...]
    templates: dict[str, Template]
    defaults: Defaults
    fallback_timeout: float     # for models named in a request but not configured
    _by_name: dict[str, ModelSpec] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        self._by_name.update({model.name: model for model in self.models})

    @property
    def enabled_models(self) -> tuple[ModelSpec, ...]:
        return tuple(model for model in self.models if model.enabled)

    def is_configured(self, name: str) -> bool:
        return name in self._by_name

    def model(self, name: str) -> ModelSpec:
        """The configured spec, or weight 1 and the fallback timeout for any other Ollama model."""
        return self._by_name.get(name) or ModelSpec(name, 1.0, self.fallback_timeout, False)


def load_config(path: Path, *, fallback_timeout: float) -> ConsensusConfig:
    """Read and check the YAML file; ConfigError names the file and the problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    return parse_config(data, source=str(path), fallback_timeout=fallback_timeout)


def parse_config(data, *, source: str, fallback_timeout: float) -> ConsensusConfig:
    check = Checker(source)
    top = check.mapping(data, "the file", keys={"models", "templates", "defaults"},
                        required={"models", "templates"})
    models = _models(check, top["models"], fallback_timeout)
    if not any(model.enabled for model in models):
        check.fail("models", "at least one model must be enabled")
    names = {model.name for model in models}
    templates = _templates(check, top["templates"], names)
    defaults = _defaults(check, top.get("defaults") or {}, models, templates)
    return ConsensusConfig(source=source, models=models, templates=templates, defaults=defaults,
                           fallback_timeout=fallback_timeout)


def _models(check: Checker, value, fallback_timeout: float) -> tuple[ModelSpec, ...]:
    if not isinstance(value, list) or not value:
        check.fail("models", "must be a non-empty list of models")
    models, seen = [], set()
    for index, item in enumerate(value):
        where = f"models[{index}]"
        item = check.mapping(item, where, keys={"name", "weight", "timeout", "enabled"},
                             required={"name"})
        name = check.text(item["name"], f"{where}.name")
        if name in seen:
            check.fail(f"{where}.name", f"'{name}' is listed twice")
        seen.add(name)
        models.append(ModelSpec(
            name=name,
            weight=check.number(item.get("weight", 1.0), f"{where}.weight", above=0),
            timeout=check.number(item.get("timeout", fallback_timeout), f"{where}.timeout",
                                 above=0, at_most=MAX_TIMEOUT_S),
            enabled=check.flag(item.get("enabled", True), f"{where}.enabled"),
        ))
    return tuple(models)


def _templates(check: Checker, value, model_names: set[str]) -> dict[str, Template]:
    if not isinstance(value, dict) or not value:
        check.fail("templates", "must be a non-empty mapping of template id to template")
    templates = {}
    for key, item in value.items():
        template_id = check.text(key, "templates (a template id)")
        where = f"templates.{template_id}"
        item = check.mapping(item, where, keys={"name", "description", "system_prompt",
                                                "prompt_format", "models"})
        prompt_format = check.text(item.get("prompt_format", "{prompt}"), f"{where}.prompt_format")
        if "{prompt}" not in prompt_format:
            check.fail(f"{where}.prompt_format", "must contain {prompt}, where the user's prompt goes")
        models = item.get("models") or []
        if not isinstance(models, list):
            check.fail(f"{where}.models", "must be a list of configured model names")
        for name in models:
            if name not in model_names:
                check.fail(f"{where}.models", f"'{name}' is not one of the configured models")
        templates[template_id] = Template(
            id=template_id,
            name=check.text(item.get("name", template_id), f"{where}.name"),
            description=check.text(item.get("description", ""), f"{where}.description", empty=True),
            system_prompt=check.text(item.get("system_prompt", ""), f"{where}.system_prompt", empty=True),
            prompt_format=prompt_format,
            models=tuple(models),
        )
    return templates


def _defaults(check: Checker, value, models, templates) -> Defaults:
    item = check.mapping(value, "defaults", keys={"method", "template", "aggregator", "match_threshold",
                                                  "temperature", "max_tokens", "synthesis_prompt"})
    method = item.get("method", "vote")
    if method not in METHODS:
        check.fail("defaults.method", f"must be one of {', '.join(METHODS)}, got {method!r}")
    template = item.get("template", "general" if "general" in templates else next(iter(templates)))
    if template not in templates:
        check.fail("defaults.template", f"'{template}' is not one of the templates")
    first_enabled = next(model.name for model in models if model.enabled)
    synthesis_prompt = check.text(item.get("synthesis_prompt", DEFAULT_SYNTHESIS_PROMPT),
                                  "defaults.synthesis_prompt")
    for placeholder in ("{prompt}", "{answers}"):
        if placeholder not in synthesis_prompt:
            check.fail("defaults.synthesis_prompt", f"must contain {placeholder}")
    max_tokens = check.number(item.get("max_tokens", 500), "defaults.max_tokens", above=0, at_most=32768)
    if max_tokens != int(max_tokens):
        check.fail("defaults.max_tokens", f"must be a whole number, got {max_tokens!r}")
    return Defaults(
        method=method,
        template=template,
        aggregator=check.text(item.get("aggregator", first_enabled), "defaults.aggregator"),
        match_threshold=check.number(item.get("match_threshold", 1.0), "defaults.match_threshold",
                                     above=0, at_most=1),
        temperature=check.number(item.get("temperature", 0.7), "defaults.temperature",
                                 at_least=0, at_most=2),
        max_tokens=int(max_tokens),
        synthesis_prompt=synthesis_prompt,
    )
