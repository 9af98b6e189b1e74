"""One fake Ollama and one consensus service shared by a module's query tests.

Starting the service is the slow part (a real process under waitress), so
the query tests share one whose config lists every kind of model they need;
each test picks its models with the request's "models" field.
"""

from __future__ import annotations

import pytest
import yaml

from tests.processes import ServiceProcess
from tests.fakes.ollama_server import FakeModel, FakeOllama

# name -> the fake's behaviour; the config below gives weights and timeouts.
FAKE_MODELS = [
    FakeModel("alpha", reply="París."),
    FakeModel("beta", reply="paris"),
    FakeModel("gamma", reply="Londres."),
    FakeModel("heavy", reply="Londres"),
    FakeModel("slow", reply="Es París", first_token_delay=0.3),
    FakeModel("hung", failure="hang"),
    FakeModel("sleepy", failure="hang"),
    FakeModel("broken", failure="error"),
    FakeModel("dying", failure="die"),
    FakeModel("mute", reply=""),
    FakeModel("judge", echo=True),
    FakeModel("extra", reply="PARÍS"),   # on the Ollama host, not in the config
]

CONFIG = {
    "defaults": {"method": "vote", "template": "general", "aggregator": "judge",
                 "temperature": 0.2, "max_tokens": 64},
    "models": [
        {"name": "alpha", "weight": 1.0, "timeout": 10},
        {"name": "beta", "weight": 1.0, "timeout": 10},
        {"name": "gamma", "weight": 1.0, "timeout": 10},
        {"name": "heavy", "weight": 3.0, "timeout": 10, "enabled": False},
        {"name": "slow", "weight": 1.0, "timeout": 10, "enabled": False},
        {"name": "hung", "timeout": 1, "enabled": False},
        {"name": "sleepy", "timeout": 60, "enabled": False},
        {"name": "broken", "timeout": 10, "enabled": False},
        {"name": "dying", "timeout": 10, "enabled": False},
        {"name": "mute", "timeout": 10, "enabled": False},
        {"name": "judge", "timeout": 10, "enabled": False},
    ],
    "templates": {
        "general": {"name": "General", "system_prompt": "Responde breve.", "prompt_format": "{prompt}"},
        "quiz": {"name": "Quiz", "description": "una palabra", "system_prompt": "Una palabra.",
                 "prompt_format": "Pregunta: {prompt}\nRespuesta:", "models": ["alpha", "gamma"]},
    },
}


def write_config(path, config=CONFIG):
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def ollama():
    with FakeOllama(FAKE_MODELS) as fake:
        yield fake


@pytest.fixture(scope="module")
def consensus(ollama, tmp_path_factory):
    """The consensus service on the fake, with CONFIG."""
    tmp = tmp_path_factory.mktemp("consensus")
    config = write_config(tmp / "consensus.yaml")
    proc = ServiceProcess("consensus", {"OLLAMA_URL": ollama.url, "OLLAMA_TIMEOUT": "5",
                                        "CAPIBARA6_CONSENSUS_CONFIG": str(config)}, tmp).start()
    yield proc
    proc.stop()
