"""Normalizing, grouping and voting, without a model."""

from __future__ import annotations

import pytest

from capibara6.consensus.fanout import Answer
from capibara6.consensus.methods import (format_answers, group_answers, normalize, same_answer,
                                         vote, weighted)


def answers(*pairs) -> list[Answer]:
    return [Answer(model, text, latency_ms=1.0, tokens=1, prompt_tokens=1) for model, text in pairs]


@pytest.mark.parametrize("a, b", [
    ("París.", "paris"),
    ("  La respuesta es: 42!  ", "la respuesta es 42"),
    ("**Sí**", "si"),
    ("Árbol\n\ncañón", "arbol canon"),
])
def test_normalize_ignores_case_accents_punctuation_and_spacing(a, b):
    assert normalize(a) == normalize(b)


def test_normalize_keeps_different_answers_apart():
    assert normalize("París") != normalize("Londres")
    assert normalize("4") != normalize("40")


def test_same_answer_at_1_is_equality_and_below_is_word_similarity():
    long_a = normalize("La capital de Francia es París, una ciudad preciosa")
    long_b = normalize("La capital de Francia es París, una ciudad enorme")
    assert not same_answer(long_a, long_b, 1.0)
    assert same_answer(long_a, long_b, 0.8)
    assert not same_answer(long_a, normalize("Londres"), 0.5)


def test_vote_agreement_is_the_winning_groups_share():
    verdict = vote(answers(("a", "Sí."), ("b", "no"), ("c", "si"), ("d", "Quizás")), threshold=1.0)
    assert verdict.answer.model == "a" and verdict.agreement == 0.5 and verdict.groups == 3


def test_vote_tie_goes_to_the_group_of_the_first_listed_model():
    verdict = vote(answers(("a", "uno"), ("b", "dos"), ("c", "dos"), ("d", "uno")), threshold=1.0)
    assert verdict.answer.model == "a" and verdict.agreement == 0.5


def test_vote_of_all_different_answers_is_the_first_with_agreement_one_in_n():
    verdict = vote(answers(("a", "uno"), ("b", "dos"), ("c", "tres")), threshold=1.0)
    assert verdict.answer.model == "a" and verdict.agreement == pytest.approx(1 / 3)


def test_weighted_sums_weights_and_shows_the_heaviest_member():
    weights = {"a": 1.0, "b": 0.5, "c": 2.0, "d": 1.0}
    verdict = weighted(answers(("a", "uno"), ("b", "dos"), ("c", "dos"), ("d", "uno")),
                       weight_of=weights.__getitem__, threshold=1.0)
    assert verdict.answer.model == "c" and verdict.agreement == pytest.approx(2.5 / 4.5)


def test_grouping_with_a_threshold_joins_near_identical_long_answers():
    pairs = (("a", "El capibara es el roedor más grande del mundo."),
             ("b", "El capibara es el roedor más grande del mundo entero."),
             ("c", "Es un pez."))
    exact = group_answers(answers(*pairs), weight_of=lambda _: 1.0, threshold=1.0)
    loose = group_answers(answers(*pairs), weight_of=lambda _: 1.0, threshold=0.8)
    assert len(exact) == 3
    assert [[m.model for m in g.members] for g in loose] == [["a", "b"], ["c"]]


def test_answers_for_the_aggregator_are_numbered_without_model_names():
    text = format_answers(answers(("llama", " uno \n"), ("qwen", "dos")))
    assert text == "[1]\nuno\n\n[2]\ndos"
    assert "llama" not in text
