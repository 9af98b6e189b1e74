"""The YAML config: the packaged default, where it is found, and every way it can be wrong."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from capibara6.consensus.config import DEFAULT_SYNTHESIS_PROMPT, load_config, parse_config
from capibara6.consensus.settings import PACKAGED_CONFIG, ConsensusSettings, default_config_path
from capibara6.kit.settings import ConfigError, Env
from tests.processes import ROOT, free_port

MINIMAL = {"models": [{"name": "llama3.2:latest"}], "templates": {"general": {}}}


def test_packaged_default_is_valid_and_names_its_models_and_templates():
    config = load_config(PACKAGED_CONFIG, fallback_timeout=120)
    assert [m.name for m in config.enabled_models] == ["llama3.2:latest", "qwen2.5:7b"]
    assert {"general", "coding", "analysis", "creative", "technical"} <= set(config.templates)
    assert config.defaults.method == "vote" and config.defaults.template == "general"
    assert config.defaults.synthesis_prompt == DEFAULT_SYNTHESIS_PROMPT


def test_config_path_is_the_etc_file_when_present_else_the_packaged_one(tmp_path):
    etc_file = tmp_path / "consensus.yaml"
    assert default_config_path(etc_file) == PACKAGED_CONFIG
    etc_file.write_text("models: []\n")
    assert default_config_path(etc_file) == etc_file


def test_config_setting_wins_and_must_exist(tmp_path):
    chosen = tmp_path / "mine.yaml"
    chosen.write_text(yaml.safe_dump(MINIMAL))
    settings = ConsensusSettings.from_env(Env({"CAPIBARA6_CONSENSUS_CONFIG": str(chosen)}),
                                          system_config=tmp_path / "absent.yaml")
    assert settings.config_path == chosen
    with pytest.raises(ConfigError, match=r"^CAPIBARA6_CONSENSUS_CONFIG: no such file: .*nope\.yaml$"):
        ConsensusSettings.from_env(Env({"CAPIBARA6_CONSENSUS_CONFIG": str(tmp_path / "nope.yaml")}))


def test_minimal_config_fills_in_the_defaults():
    config = parse_config(MINIMAL, source="c.yaml", fallback_timeout=42)
    [model] = config.models
    assert (model.weight, model.timeout, model.enabled) == (1.0, 42, True)
    assert config.defaults.aggregator == "llama3.2:latest"
    assert config.templates["general"].prompt_format == "{prompt}"
    assert config.templates["general"].messages("hola") == [{"role": "user", "content": "hola"}]
    assert config.model("other:7b").weight == 1.0 and config.model("other:7b").timeout == 42


def test_prompt_placeholders_are_filled_once_so_braces_in_the_prompt_survive():
    config = parse_config({**MINIMAL, "templates": {"t": {"prompt_format": "P: {prompt} {answers}"}}},
                          source="c.yaml", fallback_timeout=1)
    assert config.templates["t"].messages("a {prompt} b")[-1]["content"] == "P: a {prompt} b {answers}"


def _with(**changes):
    data = yaml.safe_load(yaml.safe_dump(MINIMAL))
    for dotted, value in changes.items():
        target, *path, last = [data, *dotted.split("__")]
        for key in path:
            target = target[int(key)] if isinstance(target, list) else target[key]
        target[int(last) if isinstance(target, list) else last] = value
    return data


@pytest.mark.parametrize("data, message", [
    ([1, 2], "the file: must be a mapping"),
    ({"templates": {"general": {}}}, "the file: 'models' is required"),
    (_with(extra=1), "the file: unknown key 'extra'"),
    (_with(models=[]), "models: must be a non-empty list"),
    (_with(models=["llama3.2"]), "models[0]: must be a mapping"),
    (_with(models__0={"weight": 1}), "models[0]: 'name' is required"),
    (_with(models__0__name=""), "models[0].name: must not be empty"),
    (_with(models__0__weight=0), "models[0].weight: must be more than 0"),
    (_with(models__0__weight="heavy"), "models[0].weight: must be a number"),
    (_with(models__0__timeout=-1), "models[0].timeout: must be more than 0"),
    (_with(models__0__timeout=99999), "models[0].timeout: must be at most 3600"),
    (_with(models__0__enabled="yes"), "models[0].enabled: must be true or false"),
    (_with(models__0__enabled=False), "models: at least one model must be enabled"),
    (_with(models__0__colour="red"), "models[0]: unknown key 'colour'"),
    (_with(models=[{"name": "a"}, {"name": "a"}]), "models[1].name: 'a' is listed twice"),
    (_with(templates={}), "templates: must be a non-empty mapping"),
    (_with(templates__general__prompt_format="Hola"), "templates.general.prompt_format: must contain {prompt}"),
    (_with(templates__general__system_prompt=3), "templates.general.system_prompt: must be text"),
    (_with(templates__general__models=["ghost"]), "templates.general.models: 'ghost' is not one of"),
    (_with(defaults={"method": "majority"}), "defaults.method: must be one of vote, weighted"),
    (_with(defaults={"template": "ghost"}), "defaults.template: 'ghost' is not one of the templates"),
    (_with(defaults={"match_threshold": 1.5}), "defaults.match_threshold: must be at most 1"),
    (_with(defaults={"temperature": -1}), "defaults.temperature: must be at least 0"),
    (_with(defaults={"max_tokens": 2.5}), "defaults.max_tokens: must be a whole number"),
    (_with(defaults={"synthesis_prompt": "{prompt} only"}), "defaults.synthesis_prompt: must contain {answers}"),
    (_with(defaults={"aggregator": ""}), "defaults.aggregator: must not be empty"),
])
def test_bad_config_names_the_file_and_the_key(tmp_path, data, message):
    path = tmp_path / "consensus.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as raised:
        load_config(path, fallback_timeout=60)
    text = str(raised.value)
    assert text.startswith(f"{path}: ") and message in text
    assert "\n" not in text


def test_yaml_syntax_error_says_where(tmp_path):
    path = tmp_path / "consensus.yaml"
    path.write_text("models:\n  - name: a\n    weight: [1\n")
    with pytest.raises(ConfigError, match=r"consensus\.yaml: not valid YAML at line \d+, column \d+"):
        load_config(path, fallback_timeout=60)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml: no such file$"):
        load_config(tmp_path / "nope.yaml", fallback_timeout=60)


def test_service_with_a_bad_config_exits_2_with_one_line(tmp_path):
    path = tmp_path / "consensus.yaml"
    path.write_text(yaml.safe_dump(_with(models__0__weight=-3)))
    env = {"PATH": "/usr/bin:/bin", "CAPIBARA6_CONSENSUS_CONFIG": str(path),
           "CAPIBARA6_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run([sys.executable, "-m", "capibara6", "serve", "consensus",
                           "--port", str(free_port())], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert str(path) in lines[0] and "models[0].weight: must be more than 0" in lines[0]
    assert "Traceback" not in done.stderr
