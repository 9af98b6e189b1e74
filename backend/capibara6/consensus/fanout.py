"""Ask several models at once, each within its own time limit.

requests' read timeout bounds each socket read, not the whole call: a model
that sends a byte now and then never times out. So each call runs on its own
daemon thread, and the caller waits on one queue until each model's
deadline. A call still running at its deadline is reported as timed out and
abandoned: its answer, if it ever comes, is dropped, and its thread ends when
the call does (the call's read timeout is the model's timeout too).

Threads per call rather than a shared pool: a pool's workers would be held
by hung models, and later queries would queue behind them.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Sequence

from capibara6.ollama import OllamaClient, OllamaError, as_api_error

log = logging.getLogger("capibara6.consensus")


@dataclass(frozen=True)
class Call:
    model: str
    messages: list[dict]
    timeout: float


@dataclass(frozen=True)
class Answer:
    model: str
    text: str
    latency_ms: float
    tokens: int             # completion tokens, as Ollama counts them
    prompt_tokens: int


@dataclass(frozen=True)
class Failure:
    model: str
    error: str
    code: str               # the code the error would have as a whole response
    latency_ms: float


@dataclass
class FanOut:
    answers: list[Answer]   # in the order they arrived
    failures: list[Failure]
    pending: list[str]      # still running when we stopped waiting (stop_at_first_answer)


def ask_all(client: OllamaClient, calls: Sequence[Call], *, options: dict,
            stop_at_first_answer: bool = False) -> FanOut:
    """Every call at once; returns when each has answered, failed or passed its
    deadline, or, with stop_at_first_answer, as soon as one good answer is in."""
    results: queue.Queue = queue.Queue()
    started = time.monotonic()
    deadlines = {call.model: started + call.timeout for call in calls}
    for call in calls:
        threading.Thread(target=_ask, args=(client, call, options, results),
                         name=f"ask {call.model}", daemon=True).start()

    outcome = FanOut([], [], [])
    waiting = dict(deadlines)
    by_model = {call.model: call for call in calls}
    while waiting:
        now = time.monotonic()
        for model, deadline in list(waiting.items()):
            if deadline <= now:
                del waiting[model]
                outcome.failures.append(Failure(
                    model, f"no answer within {by_model[model].timeout:g}s", "upstream_timeout",
                    round((now - started) * 1000, 1)))
        if not waiting:
            break
        try:
            result = results.get(timeout=max(0.0, min(waiting.values()) - now))
        except queue.Empty:
            continue
        if result.model not in waiting:
            continue  # it came after its deadline and is already reported as timed out
        del waiting[result.model]
        if isinstance(result, Answer):
            outcome.answers.append(result)
            if stop_at_first_answer:
                break
        else:
            outcome.failures.append(result)
    outcome.pending = [call.model for call in calls if call.model in waiting]
    return outcome


def _ask(client: OllamaClient, call: Call, options: dict, results: queue.Queue) -> None:
    started = time.perf_counter()

    def elapsed_ms() -> float:
        return round((time.perf_counter() - started) * 1000, 1)

    try:
        result = client.chat(call.model, call.messages, options=options, timeout=call.timeout)
    except OllamaError as error:
        results.put(Failure(call.model, str(error), as_api_error(error).code, elapsed_ms()))
        return
    except Exception as error:  # noqa: BLE001 - a bug; ollama.py turns every bad reply into OllamaError
        # Whatever went wrong, the caller must hear of it now, not at the deadline.
        log.warning("asking %s failed unexpectedly: %r", call.model, error)
        results.put(Failure(call.model, "Ollama's reply could not be read", "upstream_error",
                            elapsed_ms()))
        return
    if not result.content.strip():
        results.put(Failure(call.model, "the model answered with empty text", "empty_answer",
                            elapsed_ms()))
        return
    results.put(Answer(call.model, result.content, elapsed_ms(), result.completion_tokens,
                       result.prompt_tokens))
