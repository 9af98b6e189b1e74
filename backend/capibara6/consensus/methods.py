"""How answers are compared and combined: normalizing, grouping, voting.

Pure functions over fanout.Answer lists, so every rule can be tested without
a model. Ties go to the model listed first in the query, so the same answers
always give the same result whatever order they arrived in.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Callable, Sequence

from capibara6.consensus.fanout import Answer

_NOT_WORD = re.compile(r"[^\w\s]")


def normalize(text: str) -> str:
    """The answer with case, accents, punctuation and spacing ignored:
    "París." and "  paris" are the same answer."""
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(char for char in text if not unicodedata.combining(char))
    return " ".join(_NOT_WORD.sub(" ", text).split())


def same_answer(a: str, b: str, threshold: float) -> bool:
    """Whether two normalized answers agree: equal at threshold 1.0, else when
    their word sequences are at least that similar (difflib's ratio)."""
    if a == b:
        return True
    if threshold >= 1.0:
        return False
    # Words, not characters: long answers stay cheap to compare and the score
    # reads as "share of matching words".
    matcher = SequenceMatcher(None, a.split(), b.split(), autojunk=False)
    return matcher.quick_ratio() >= threshold and matcher.ratio() >= threshold


@dataclass
class Group:
    key: str                                   # the normalized text of its first answer
    members: list[Answer] = field(default_factory=list)
    weight: float = 0.0


def group_answers(answers: Sequence[Answer], *, weight_of: Callable[[str], float],
                  threshold: float) -> list[Group]:
    """Answers (in query order) in groups that agree; each joins the first group it matches."""
    groups: list[Group] = []
    for answer in answers:
        key = normalize(answer.text)
        group = next((g for g in groups if same_answer(key, g.key, threshold)), None)
        if group is None:
            group = Group(key)
            groups.append(group)
        group.members.append(answer)
        group.weight += weight_of(answer.model)
    return groups


@dataclass(frozen=True)
class Verdict:
    answer: Answer          # the answer returned (its model is model_used)
    agreement: float        # 0..1: the winning group's share of the answers (or of their weight)
    groups: int


def vote(answers: Sequence[Answer], *, threshold: float) -> Verdict:
    """The largest group wins; its share of the answers is the agreement."""
    groups = group_answers(answers, weight_of=lambda _: 1.0, threshold=threshold)
    winner = max(groups, key=lambda g: len(g.members))  # max keeps the first of equals
    return Verdict(winner.members[0], len(winner.members) / len(answers), len(groups))


def weighted(answers: Sequence[Answer], *, weight_of: Callable[[str], float],
             threshold: float) -> Verdict:
    """The group with the most weight wins; the answer shown is its heaviest model's."""
    groups = group_answers(answers, weight_of=weight_of, threshold=threshold)
    winner = max(groups, key=lambda g: g.weight)
    total = sum(g.weight for g in groups)
    best = max(winner.members, key=lambda a: weight_of(a.model))
    return Verdict(best, winner.weight / total, len(groups))


def format_answers(answers: Sequence[Answer]) -> str:
    """The answers as the aggregator reads them: numbered, without model names,
    so it judges the text and not the name."""
    return "\n\n".join(f"[{number}]\n{answer.text.strip()}"
                       for number, answer in enumerate(answers, start=1))
