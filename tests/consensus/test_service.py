"""The consensus service's other routes, its health, reload and Ollama being down."""

from __future__ import annotations

import signal
import time

import requests
import yaml

from tests.processes import free_port
from tests.consensus.conftest import CONFIG, write_config

BOUND_S = 30


def get(service, path):
    return requests.get(f"{service.url}{path}", timeout=BOUND_S)


def test_models_lists_the_default_set_with_the_fields_the_page_reads(consensus):
    body = get(consensus, "/api/consensus/models").json()
    assert body["models_list"] == ["alpha", "beta", "gamma"]
    assert body["active_models"] == 3 and body["total_models"] == len(CONFIG["models"])
    assert body["consensus_enabled"] is True
    assert body["available_templates"] == ["general", "quiz"]
    heavy = next(m for m in body["models"] if m["name"] == "heavy")
    assert heavy == {"name": "heavy", "weight": 3.0, "timeout": 10.0, "enabled": False}
    assert body["default_method"] == "vote" and body["aggregator"] == "judge"


def test_templates_lists_each_template_and_the_default(consensus):
    body = get(consensus, "/api/consensus/templates").json()
    assert body["default_template"] == "general" and body["total"] == 2
    assert body["templates"]["quiz"] == {
        "name": "Quiz", "description": "una palabra", "system_prompt": "Una palabra.",
        "prompt_format": "Pregunta: {prompt}\nRespuesta:", "models": ["alpha", "gamma"]}


def test_config_shows_the_file_defaults_and_limits(consensus, ollama):
    body = get(consensus, "/api/consensus/config").json()
    assert body["config_file"].endswith("consensus.yaml")
    assert body["ollama_url"] == ollama.url
    assert body["methods"] == ["vote", "weighted", "synthesis", "first"]
    assert body["defaults"]["method"] == "vote" and body["defaults"]["aggregator"] == "judge"
    assert "{answers}" in body["defaults"]["synthesis_prompt"]
    assert body["unconfigured_model"] == {"weight": 1.0, "timeout": 5.0}
    assert body["limits"] == {"max_models": 8, "max_prompt_chars": 32000}
    assert body["model_weights"]["heavy"] == 3.0 and body["voting_method"] == "vote"


def test_health_says_each_model_is_on_ollama(consensus):
    for path in ("/health", "/api/consensus/health"):
        reply = get(consensus, path)
        assert reply.status_code == 200
        body = reply.json()
        assert body["status"] == "ok" and body["service"] == "capibara6-consensus"
        ollama = body["checks"]["ollama"]
        assert ollama["status"] == "ok" and ollama["missing_models"] == []
        assert ollama["models"] == {name: {"present": True} for name in ("alpha", "beta", "gamma", "judge")}


def test_health_is_degraded_when_a_configured_model_is_missing(service, ollama, tmp_path):
    config = {**CONFIG, "models": [*CONFIG["models"], {"name": "ghost:7b", "timeout": 5}]}
    proc = service("consensus", {"OLLAMA_URL": ollama.url,
                                 "CAPIBARA6_CONSENSUS_CONFIG": str(write_config(tmp_path / "c.yaml", config))})
    body = get(proc, "/api/consensus/health").json()
    assert body["status"] == "degraded"
    assert body["checks"]["ollama"]["models"]["ghost:7b"] == {"present": False}
    assert body["checks"]["ollama"]["missing_models"] == ["ghost:7b"]
    # Queries still answer, with the missing model listed as failed.
    reply = requests.post(f"{proc.url}/api/consensus/query", json={"prompt": "hola"}, timeout=BOUND_S)
    assert reply.status_code == 200
    assert [(f["model"], f["code"]) for f in reply.json()["failed_models"]] == [("ghost:7b", "model_not_found")]


def test_ollama_down_means_degraded_health_and_502_queries(service, tmp_path):
    down = f"http://127.0.0.1:{free_port()}"
    proc = service("consensus", {"OLLAMA_URL": down,
                                 "CAPIBARA6_CONSENSUS_CONFIG": str(write_config(tmp_path / "c.yaml"))})
    health = get(proc, "/api/consensus/health")
    assert health.status_code == 200
    check = health.json()["checks"]["ollama"]
    assert health.json()["status"] == "degraded" and check["status"] == "unreachable"
    assert check["missing_models"] == ["alpha", "beta", "gamma", "judge"]
    # A model the config does not know cannot be checked now: it fails like the rest.
    for body in ({"prompt": "hola"}, {"prompt": "hola", "models": ["alpha", "unlisted"]}):
        reply = requests.post(f"{proc.url}/api/consensus/query", json=body, timeout=BOUND_S)
        assert reply.status_code == 502
        failed = reply.json()["failed_models"]
        assert reply.json()["code"] == "all_models_failed"
        assert {f["code"] for f in failed} == {"upstream_unavailable"}
        assert [f["model"] for f in failed] == body.get("models", ["alpha", "beta", "gamma"])


def test_reload_reads_the_config_again_and_keeps_it_when_the_new_one_is_bad(service, ollama, tmp_path):
    path = write_config(tmp_path / "c.yaml")
    proc = service("consensus", {"OLLAMA_URL": ollama.url, "CAPIBARA6_CONSENSUS_CONFIG": str(path)})
    write_config(path, {**CONFIG, "defaults": {**CONFIG["defaults"], "method": "weighted"}})
    proc.proc.send_signal(signal.SIGHUP)
    assert _eventually(lambda: get(proc, "/api/consensus/config").json()["defaults"]["method"] == "weighted")

    path.write_text(yaml.safe_dump({**CONFIG, "models": []}))
    proc.proc.send_signal(signal.SIGHUP)
    assert _eventually(lambda: "reload failed" in proc.log())
    assert "models: must be a non-empty list" in proc.log()
    assert get(proc, "/api/consensus/config").json()["defaults"]["method"] == "weighted"
    assert proc.proc.poll() is None


def _eventually(condition, within=BOUND_S) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False
