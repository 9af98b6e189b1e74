"""Bad settings stop `capibara6 serve mcp` at once with one line and exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from capibara6.kit.settings import Env
from capibara6.mcp.settings import PACKAGED_MODEL, McpSettings
from tests.processes import ROOT, free_port


def run_serve(env: dict) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CAPIBARA6_")}
    return subprocess.run([sys.executable, "-m", "capibara6", "serve", "mcp", "--port", str(free_port())],
                          env={**clean, **env}, cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("env, message", [
    ({"CAPIBARA6_MCP_DOCS_DIR": "/no/such/folder"}, "CAPIBARA6_MCP_DOCS_DIR: no such directory"),
    ({"CAPIBARA6_MCP_TIMEZONE": "Mars/Olympus"}, "CAPIBARA6_MCP_TIMEZONE: unknown time zone"),
    ({"CAPIBARA6_MCP_EMBEDDING_MODEL": "/no/such/model"}, "CAPIBARA6_MCP_EMBEDDING_MODEL: expected a"),
    ({"CAPIBARA6_MCP_MIN_SCORE": "high"}, "CAPIBARA6_MCP_MIN_SCORE: expected a number"),
    ({"CAPIBARA6_MCP_CHUNK_CHARS": "200", "CAPIBARA6_MCP_CHUNK_OVERLAP": "200"}, "must be smaller than"),
    ({"CAPIBARA6_MCP_DEVICE": "tpu"}, "CAPIBARA6_MCP_DEVICE: expected one of"),
    ({"CAPIBARA6_MCP_PRECISION": "int4"}, "CAPIBARA6_MCP_PRECISION: expected one of"),
    ({"CAPIBARA6_MCP_FACTS_FILE": "/no/such/facts.yaml"}, "CAPIBARA6_MCP_FACTS_FILE: no such file"),
])
def test_a_bad_setting_exits_2_with_one_line(env, message):
    result = run_serve(env)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_defaults_are_the_packaged_model_and_madrid(tmp_path):
    settings = McpSettings.from_env(Env({"CAPIBARA6_STATE_DIR": str(tmp_path)}))
    assert settings.embedding_model == PACKAGED_MODEL and settings.timezone == "Europe/Madrid"
    assert settings.device == "auto" and settings.precision == "auto"
    assert settings.docs_dir is None and 0 < settings.min_score < settings.verify_threshold < 1


def test_a_build_embeds_on_every_core_unless_told_and_a_query_on_one(tmp_path):
    settings = McpSettings.from_env(Env({"CAPIBARA6_STATE_DIR": str(tmp_path)}))
    assert settings.build_threads == len(os.sched_getaffinity(0)) and settings.torch_threads == 1
    told = McpSettings.from_env(Env({"CAPIBARA6_STATE_DIR": str(tmp_path), "CAPIBARA6_MCP_BUILD_THREADS": "3"}))
    assert told.build_threads == 3


def test_a_model_directory_that_does_not_load_exits_2_after_warm_up(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "no-such-architecture"}', encoding="utf-8")
    result = run_serve({"CAPIBARA6_MCP_EMBEDDING_MODEL": str(model), "CAPIBARA6_STATE_DIR": str(tmp_path / "s")})
    assert result.returncode == 2, result.stderr
    assert "configuration error: CAPIBARA6_MCP_EMBEDDING_MODEL: cannot load" in result.stderr
    assert "Traceback" not in result.stderr
