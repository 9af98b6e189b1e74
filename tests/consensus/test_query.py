"""POST /api/consensus/query under waitress, against the fake Ollama.

The fake's models answer "París." (alpha), "paris" (beta), "Londres."
(gamma), "Londres" (heavy, weight 3), "Es París" after 0.3 s (slow); hung
and sleepy never answer (timeouts 1 s and 60 s), broken answers 500, dying
drops the connection, mute answers nothing, judge echoes its prompt.
"""

from __future__ import annotations

import pytest
import requests

# Generous: only there so a broken service fails the test instead of hanging it.
BOUND_S = 30


def ask(service, **body):
    return requests.post(f"{service.url}/api/consensus/query", json=body, timeout=BOUND_S)


def test_vote_takes_the_largest_group_of_normalized_answers(consensus, ollama):
    reply = ask(consensus, prompt="¿Capital de Francia?")
    assert reply.status_code == 200
    body = reply.json()
    # "París." and "paris" are one answer once case, accents and punctuation go.
    assert body["response"] == "París."
    assert body["model_used"] == "alpha"
    assert body["consensus_method"] == "vote"
    assert body["agreement"] == pytest.approx(2 / 3, abs=0.001)
    assert body["consensus"] is True
    assert body["models_queried"] == 3 and body["successful_models"] == 3
    assert body["failed_models"] == [] and body["pending_models"] == []
    assert [a["model"] for a in body["answers"]] == ["alpha", "beta", "gamma"]
    assert [a["response"] for a in body["answers"]] == ["París.", "paris", "Londres."]
    assert all(a["tokens"] >= 1 and a["latency_ms"] >= 0 for a in body["answers"])
    assert body["template"] == "general" and body["duration"] >= 0
    sent = [r for r in ollama.stats.chat_requests if r["messages"][-1]["content"] == "¿Capital de Francia?"]
    assert sorted(r["model"] for r in sent) == ["alpha", "beta", "gamma"]
    assert sent[0]["messages"][0] == {"role": "system", "content": "Responde breve."}
    assert sent[0]["options"] == {"temperature": 0.2, "num_predict": 64}


def test_vote_without_a_majority_is_no_consensus_and_ties_go_to_the_first_listed(consensus):
    body = ask(consensus, prompt="¿Capital?", models=["gamma", "alpha"]).json()
    assert body["response"] == "Londres." and body["model_used"] == "gamma"
    assert body["agreement"] == 0.5
    assert body["consensus"] is False


def test_weighted_lets_a_heavy_model_outvote_two_light_ones(consensus):
    body = ask(consensus, prompt="¿Capital?", method="weighted",
               models=["alpha", "beta", "gamma", "heavy"]).json()
    # Londres: gamma 1 + heavy 3 = 4 of 6; París: alpha 1 + beta 1 = 2 of 6.
    assert body["consensus_method"] == "weighted"
    assert body["response"] == "Londres" and body["model_used"] == "heavy"
    assert body["agreement"] == pytest.approx(4 / 6, abs=0.001)
    assert body["consensus"] is True
    assert {a["model"]: a["weight"] for a in body["answers"]} == {
        "alpha": 1.0, "beta": 1.0, "gamma": 1.0, "heavy": 3.0}


def test_vote_counts_heads_where_weighted_counts_weight(consensus):
    body = ask(consensus, prompt="¿Capital?", method="vote", models=["alpha", "beta", "heavy"]).json()
    assert body["response"] == "París." and body["agreement"] == pytest.approx(2 / 3, abs=0.001)


def test_synthesis_has_the_aggregator_read_every_answer(consensus, ollama):
    # max_tokens high enough for judge to echo the whole prompt back.
    body = ask(consensus, prompt="¿Capital de Francia?", method="synthesis", max_tokens=4000).json()
    assert body["consensus_method"] == "synthesis"
    assert body["model_used"] == "judge"
    assert body["consensus"] is True
    # judge echoes its prompt: the question and the three answers, numbered.
    assert "¿Capital de Francia?" in body["response"]
    for number, text in enumerate(["París.", "paris", "Londres."], start=1):
        assert f"[{number}]\n{text}" in body["response"]
    assert body["synthesis"]["model"] == "judge" and body["synthesis"]["tokens"] > 0
    assert body["agreement"] == pytest.approx(2 / 3, abs=0.001)
    assert [a["model"] for a in body["answers"]] == ["alpha", "beta", "gamma"]
    judged = [r for r in ollama.stats.chat_requests if r["model"] == "judge"]
    assert judged[-1]["messages"][0] == {"role": "system", "content": "Responde breve."}


def test_synthesis_falls_back_to_the_vote_when_the_aggregator_fails(consensus):
    body = ask(consensus, prompt="¿Capital?", method="synthesis", aggregator="broken").json()
    assert body["consensus_method"] == "vote"
    assert body["response"] == "París." and body["model_used"] == "alpha"
    assert body["synthesis"]["model"] == "broken"
    assert body["synthesis"]["code"] == "upstream_error"


def test_first_returns_the_first_good_answer_without_waiting_for_the_rest(consensus):
    # sleepy never answers and has a 60 s timeout: waiting for it would blow BOUND_S.
    body = ask(consensus, prompt="¿Capital?", method="first", models=["sleepy", "broken", "slow"]).json()
    assert body["consensus_method"] == "first"
    assert body["response"] == "Es París" and body["model_used"] == "slow"
    assert body["consensus"] is False and body["agreement"] == 1.0
    assert body["pending_models"] == ["sleepy"]
    assert [f["model"] for f in body["failed_models"]] == ["broken"]
    assert body["successful_models"] == 1 and body["models_queried"] == 3


def test_template_sets_the_prompt_format_and_its_own_models(consensus, ollama):
    body = ask(consensus, prompt="¿Capital de Italia?", template="quiz").json()
    assert body["template"] == "quiz"
    assert [a["model"] for a in body["answers"]] == ["alpha", "gamma"]
    sent = [r for r in ollama.stats.chat_requests
            if r["messages"][-1]["content"] == "Pregunta: ¿Capital de Italia?\nRespuesta:"]
    assert sorted(r["model"] for r in sent) == ["alpha", "gamma"]
    assert sent[0]["messages"][0]["content"] == "Una palabra."


def test_a_model_on_ollama_but_not_configured_counts_with_weight_one(consensus):
    body = ask(consensus, prompt="¿Capital?", method="weighted", models=["extra", "gamma"]).json()
    assert {a["model"]: a["weight"] for a in body["answers"]} == {"extra": 1.0, "gamma": 1.0}
    assert body["response"] == "PARÍS"  # a tie: the first listed wins


def test_hung_model_is_reported_failed_after_its_timeout_and_the_answer_still_comes(consensus):
    body = ask(consensus, prompt="¿Capital?", models=["alpha", "hung", "beta"]).json()
    assert body["response"] == "París." and body["agreement"] == 1.0
    assert body["successful_models"] == 2
    [failed] = body["failed_models"]
    assert failed["model"] == "hung" and failed["code"] == "upstream_timeout"
    assert "1s" in failed["error"]
    assert body["pending_models"] == []


@pytest.mark.parametrize("down, code", [
    ("broken", "upstream_error"),
    ("dying", "upstream_unavailable"),
    ("mute", "empty_answer"),
])
def test_one_model_down_is_listed_and_the_others_answer(consensus, down, code):
    reply = ask(consensus, prompt="¿Capital?", models=["alpha", down, "gamma"])
    assert reply.status_code == 200
    body = reply.json()
    assert body["successful_models"] == 2
    assert body["failed_models"] == [{"model": down, "error": body["failed_models"][0]["error"],
                                      "code": code, "latency_ms": body["failed_models"][0]["latency_ms"]}]
    assert body["failed_models"][0]["error"]


def test_all_models_down_is_502_with_every_failure(consensus):
    reply = ask(consensus, prompt="¿Capital?", models=["broken", "dying", "hung"])
    assert reply.status_code == 502
    body = reply.json()
    assert body["code"] == "all_models_failed" and body["error"]
    assert body["models_queried"] == 3
    assert [(f["model"], f["code"]) for f in body["failed_models"]] == [
        ("broken", "upstream_error"), ("dying", "upstream_unavailable"), ("hung", "upstream_timeout")]


@pytest.mark.parametrize("body, status, code", [
    ({}, 400, "missing_field"),
    ({"prompt": "   "}, 400, "missing_field"),
    ({"prompt": 42}, 400, "invalid_field"),
    ({"prompt": "x", "template": "nope"}, 400, "unknown_template"),
    ({"prompt": "x", "models": ["nope"]}, 400, "unknown_model"),
    ({"prompt": "x", "models": ["alpha", "nope"]}, 400, "unknown_model"),
    ({"prompt": "x", "method": "synthesis", "aggregator": "nope"}, 400, "unknown_model"),
    ({"prompt": "x", "models": []}, 400, "invalid_field"),
    ({"prompt": "x", "models": "alpha"}, 400, "invalid_field"),
    ({"prompt": "x", "models": ["alpha", ""]}, 400, "invalid_field"),
    ({"prompt": "x", "models": ["alpha", "alpha"]}, 400, "invalid_field"),
    ({"prompt": "x", "models": ["alpha"] * 9}, 400, "invalid_field"),
    ({"prompt": "x", "method": "majority"}, 400, "invalid_field"),
    ({"prompt": "x", "temperature": 5}, 400, "invalid_field"),
    ({"prompt": "x", "max_tokens": 0}, 400, "invalid_field"),
])
def test_bad_input_is_a_json_error_naming_the_problem(consensus, body, status, code):
    reply = ask(consensus, **body)
    assert reply.status_code == status
    assert reply.json()["code"] == code and reply.json()["error"]


@pytest.mark.parametrize("data, content_type", [
    ("", "application/json"),
    ("{not json", "application/json"),
    ("[1, 2]", "application/json"),
])
def test_a_body_that_is_not_a_json_object_is_400(consensus, data, content_type):
    reply = requests.post(f"{consensus.url}/api/consensus/query", data=data,
                          headers={"Content-Type": content_type}, timeout=BOUND_S)
    assert reply.status_code == 400 and reply.json()["code"] == "invalid_json"


def test_wrong_method_and_unknown_path_are_json_errors(consensus):
    reply = requests.get(f"{consensus.url}/api/consensus/query", timeout=BOUND_S)
    assert reply.status_code == 405 and reply.json()["code"] == "method_not_allowed"
    reply = requests.get(f"{consensus.url}/api/consensus/nope", timeout=BOUND_S)
    assert reply.status_code == 404 and reply.json()["code"] == "not_found"
    assert "Traceback" not in consensus.log()
