"""The consensus service's logic: ask the models, combine, describe. Knows nothing of Flask."""

from __future__ import annotations

import logging
import time
from typing import Callable

from capibara6.consensus import methods
from capibara6.consensus.config import METHODS, ConsensusConfig, fill
from capibara6.consensus.fanout import Answer, Call, FanOut, Failure, ask_all
from capibara6.consensus.contracts import QueryBody
from capibara6.consensus.query import Query, parse_query
from capibara6.kit.errors import BadRequest, UpstreamUnavailable
from capibara6.ollama import OllamaBusy, OllamaClient, OllamaError, Waiting, as_api_error

TAGS_TIMEOUT_S = 3.0
log = logging.getLogger("capibara6.consensus")


class Consensus:
    def __init__(self, client: OllamaClient, load_config: Callable[[], ConsensusConfig], *,
                 max_prompt_chars: int, max_models: int, waiting: Waiting):
        """waiting bounds the queries in flight: each holds a waitress thread until its
        models answer or pass their deadlines (its calls run on threads of their own)."""
        self.client = client
        self.waiting = waiting
        self._load_config = load_config
        self.config = load_config()
        self.max_prompt_chars = max_prompt_chars
        self.max_models = max_models

    def reload(self) -> None:
        """Read the config file again (SIGHUP); a bad file raises and the old config stays."""
        self.config = self._load_config()

    # --- the query --------------------------------------------------------------

    def limits(self) -> dict:
        """The settings' limits a request body is validated against (contracts.py)."""
        return {"max_chars": self.max_prompt_chars, "max_models": self.max_models}

    def query(self, body: QueryBody) -> dict:
        config = self.config  # one config for the whole query, even if a reload lands meanwhile
        query = parse_query(body, config)
        try:
            with self.waiting.slot():
                return self._answer(query, config)
        except OllamaBusy as error:
            raise as_api_error(error) from None

    def _answer(self, query: Query, config: ConsensusConfig) -> dict:
        self._check_models_exist(query.unconfigured_models(config))
        started = time.perf_counter()
        messages = query.template.messages(query.prompt)
        fanout = ask_all(self.client, [Call(m.name, messages, m.timeout) for m in query.models],
                         options=query.options(), stop_at_first_answer=query.method == "first")
        for failure in fanout.failures:
            # A model that keeps failing shows in `journalctl -p warning`, not only in replies.
            log.warning("model %s failed (%s): %s", failure.model, failure.code, failure.error)
        if not fanout.answers:
            raise UpstreamUnavailable(
                f"none of the {len(query.models)} models answered",
                code="all_models_failed", models_queried=len(query.models),
                failed_models=[_failure(f) for f in _in_query_order(fanout.failures, query)])
        reply = self._combine(query, config, fanout)
        reply["duration"] = round(time.perf_counter() - started, 3)
        return reply

    def _check_models_exist(self, names: list[str]) -> None:
        """A model the config does not list must be on the Ollama host. When Ollama
        cannot say, the query goes ahead and reports each model's own failure."""
        if not names:
            return
        try:
            installed = self.client.installed(timeout=TAGS_TIMEOUT_S)
        except OllamaError:
            return
        unknown = [name for name in names if name not in installed]
        if unknown:
            raise BadRequest(f"unknown model '{unknown[0]}': it is neither configured nor on the "
                             f"Ollama host", code="unknown_model", field="models", models=unknown)

    def _combine(self, query: Query, config: ConsensusConfig, fanout: FanOut) -> dict:
        answers = _in_query_order(fanout.answers, query)  # ties go to the model listed first
        threshold = config.defaults.match_threshold
        weight_of = {m.name: m.weight for m in query.models}.__getitem__
        by_vote = methods.vote(answers, threshold=threshold)
        extra: dict = {}
        if query.method == "weighted":
            verdict = methods.weighted(answers, weight_of=weight_of, threshold=threshold)
            response, model_used = verdict.answer.text, verdict.answer.model
            agreed = len(answers) > 1 and verdict.agreement > 0.5
        elif query.method == "first":
            verdict, first = by_vote, fanout.answers[0]
            response, model_used, agreed = first.text, first.model, False
        else:
            verdict = by_vote
            response, model_used = verdict.answer.text, verdict.answer.model
            agreed = len(answers) > 1 and verdict.agreement > 0.5
        method = query.method
        if query.method == "synthesis" and len(answers) > 1:
            synthesis = self._synthesize(query, config, answers)
            extra["synthesis"] = synthesis
            if "error" in synthesis:
                method = "vote"  # the aggregator failed: the vote's answer is the next best
            else:
                response, model_used, agreed = synthesis.pop("text"), query.aggregator.name, True
        return {
            "response": response,
            "model_used": model_used,
            "consensus": agreed,
            "consensus_method": method,
            "agreement": round(verdict.agreement, 3),
            "models_queried": len(query.models),
            "successful_models": len(answers),
            "failed_models": [_failure(f) for f in _in_query_order(fanout.failures, query)],
            "pending_models": fanout.pending,
            "answers": [{"model": a.model, "response": a.text, "latency_ms": a.latency_ms,
                         "tokens": a.tokens, "weight": weight_of(a.model)} for a in answers],
            "template": query.template.id,
            **extra,
        }

    def _synthesize(self, query: Query, config: ConsensusConfig, answers: list[Answer]) -> dict:
        """Mixture-of-Agents' last layer: the aggregator reads every answer and writes one."""
        prompt = fill(config.defaults.synthesis_prompt, prompt=query.prompt,
                      answers=methods.format_answers(answers))
        messages = ([{"role": "system", "content": query.template.system_prompt}]
                    if query.template.system_prompt else [])
        messages.append({"role": "user", "content": prompt})
        aggregator = query.aggregator
        result = ask_all(self.client, [Call(aggregator.name, messages, aggregator.timeout)],
                         options=query.options())
        if result.answers:
            answer = result.answers[0]
            return {"model": answer.model, "latency_ms": answer.latency_ms, "tokens": answer.tokens,
                    "text": answer.text}
        return _failure(result.failures[0])

    # --- what the service tells about itself -----------------------------------

    def describe_models(self) -> dict:
        config = self.config
        enabled = config.enabled_models
        return {
            "models_list": [m.name for m in enabled],
            "total_models": len(config.models),
            "active_models": len(enabled),
            # Combining needs at least two answers.
            "consensus_enabled": len(enabled) >= 2,
            "available_templates": list(config.templates),
            "models": [_spec(m) for m in config.models],
            "default_method": config.defaults.method,
            "aggregator": config.defaults.aggregator,
        }

    def describe_templates(self) -> dict:
        config = self.config
        return {"templates": {tid: t.describe() for tid, t in config.templates.items()},
                "default_template": config.defaults.template,
                "total": len(config.templates)}

    def describe_config(self) -> dict:
        config = self.config
        defaults = config.defaults
        return {
            "config_file": config.source,
            "ollama_url": self.client.base_url,
            "methods": list(METHODS),
            "defaults": {"method": defaults.method, "template": defaults.template,
                         "aggregator": defaults.aggregator,
                         "match_threshold": defaults.match_threshold,
                         "temperature": defaults.temperature, "max_tokens": defaults.max_tokens,
                         "synthesis_prompt": defaults.synthesis_prompt},
            "models": [_spec(m) for m in config.models],
            "templates": list(config.templates),
            "unconfigured_model": {"weight": 1.0, "timeout": config.fallback_timeout},
            "limits": {"max_models": self.max_models, "max_prompt_chars": self.max_prompt_chars},
            # The old service's names, kept for whatever still reads them.
            "enabled": len(config.enabled_models) >= 2,
            "voting_method": defaults.method,
            "model_weights": {m.name: m.weight for m in config.models},
        }

    def ollama_check(self) -> tuple[bool, dict]:
        """/health: is Ollama up, and is each default model (and the aggregator) on it."""
        config = self.config
        names = list(dict.fromkeys([m.name for m in config.enabled_models] + [config.defaults.aggregator]))
        started = time.perf_counter()
        details: dict = {"url": self.client.base_url}
        try:
            installed = self.client.installed(timeout=2)
        except OllamaError as error:
            details.update(status="unreachable", error=str(error),
                           latency_ms=round((time.perf_counter() - started) * 1000, 1),
                           models={name: {"present": False} for name in names},
                           missing_models=names)
            return False, details
        models = {name: {"present": name in installed} for name in names}
        missing = [name for name, state in models.items() if not state["present"]]
        details.update(status="ok", latency_ms=round((time.perf_counter() - started) * 1000, 1),
                       models=models, missing_models=missing)
        return not missing, details

    def status_line(self) -> str:
        config = self.config
        names = ", ".join(m.name for m in config.enabled_models)
        return f"serving; {config.defaults.method} over {names}; Ollama {self.client.base_url}"


def _in_query_order(items: list, query: Query) -> list:
    order = {m.name: index for index, m in enumerate(query.models)}
    return sorted(items, key=lambda item: order[item.model])


def _failure(failure: Failure) -> dict:
    return {"model": failure.model, "error": failure.error, "code": failure.code,
            "latency_ms": failure.latency_ms}


def _spec(model) -> dict:
    return {"name": model.name, "weight": model.weight, "timeout": model.timeout,
            "enabled": model.enabled}
