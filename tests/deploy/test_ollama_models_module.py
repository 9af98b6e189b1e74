"""The capibara6_ollama role's module (library/capibara6_ollama_models.py), run
as Ansible runs it (a JSON arguments file, a JSON result), against the fake
Ollama: pulls only what /api/tags lacks, imports a GGUF once per digest and
settings, and fails naming a model that does not answer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.ollama_server import FakeModel, FakeOllama

MODULE = (Path(__file__).resolve().parents[2] / "deploy" / "ansible" / "roles" / "capibara6_ollama"
          / "library" / "capibara6_ollama_models.py")


@pytest.fixture
def fake():
    with FakeOllama([FakeModel("llama3.2:latest")]) as server:
        yield server


def run(tmp_path: Path, fake: FakeOllama, check_mode: bool = False, **args) -> dict:
    args = {"url": fake.url, "marker_dir": str(tmp_path / "markers"), "timeout": 10, **args}
    if check_mode:
        args["_ansible_check_mode"] = True
    path = tmp_path / "args.json"
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    proc = subprocess.run([sys.executable, str(MODULE), str(path)], capture_output=True, text=True, timeout=60)
    return json.loads(proc.stdout)


def test_pulls_only_the_models_ollama_lacks_and_reports_their_progress(tmp_path, fake):
    result = run(tmp_path, fake, pull=["llama3.2", "qwen2.5:0.5b"])
    assert result["changed"] is True and result["pulled"] == ["qwen2.5:0.5b"]
    assert fake.stats.pulls == ["qwen2.5:0.5b"]
    assert "qwen2.5:0.5b: pulling manifest" in result["progress"]
    assert any(line.endswith("100% of 2.02 GB") for line in result["progress"])
    again = run(tmp_path, fake, pull=["llama3.2", "qwen2.5:0.5b"])
    assert again["changed"] is False and fake.stats.pulls == ["qwen2.5:0.5b"]


def test_check_mode_pulls_nothing(tmp_path, fake):
    result = run(tmp_path, fake, check_mode=True, pull=["mistral:7b"])
    assert result["changed"] is True and result["pulled"] == ["mistral:7b"] and fake.stats.pulls == []


def test_a_gguf_is_imported_once_per_digest_and_settings(tmp_path, fake):
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF" + bytes(60))
    spec = {"name": "capibara-tiny", "path": str(gguf), "template": "{{ .Prompt }}", "parameters": {"num_ctx": 2048}}
    first = run(tmp_path, fake, imports=[spec])
    assert first["changed"] is True and first["imported"] == ["capibara-tiny"]
    assert fake.stats.creates[-1]["files"] == {"tiny.gguf": first["progress"][0].split("(")[1].rstrip(")")}
    assert run(tmp_path, fake, imports=[spec])["changed"] is False
    changed = run(tmp_path, fake, imports=[dict(spec, parameters={"num_ctx": 4096})])
    assert changed["changed"] is True and len(fake.stats.creates) == 2
    gguf.write_bytes(b"GGUF" + bytes(61))
    assert run(tmp_path, fake, imports=[dict(spec, parameters={"num_ctx": 4096})])["changed"] is True


def test_a_model_that_does_not_answer_fails_naming_it_and_ollamas_error(tmp_path, fake):
    fake.add(FakeModel("broken:latest", failure="error"))
    result = run(tmp_path, fake, pull=["llama3.2", "broken"])
    assert result["failed"] is True
    assert "model broken did not answer a one-token /api/generate" in result["msg"]
    assert "llama runner process has terminated" in result["msg"]


def test_a_failed_pull_and_a_missing_gguf_name_what_failed(tmp_path, fake):
    fake.unpullable.add("nope:1b")
    assert "pulling nope:1b: pull model manifest: file does not exist" in run(tmp_path, fake, pull=["nope:1b"])["msg"]
    missing = run(tmp_path, fake, imports=[{"name": "x", "path": str(tmp_path / "absent.gguf")}])
    assert missing["failed"] is True and "importing x from" in missing["msg"] and "no such file" in missing["msg"]
