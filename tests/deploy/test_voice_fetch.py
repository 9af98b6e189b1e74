"""capibara6_app's voice fetch, run by Ansible on this machine: a voice served
over HTTP lands whole and checksum-checked in the voices directory (once), and
a voice that cannot be fetched leaves the deploy going with one line naming
the voice TTS falls back to."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from tests.tts.spanish_piper import NAME, make_spanish_piper_voice

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def voice_server(tmp_path_factory):
    """The locally made Spanish test voice, served over HTTP as the voice repository would."""
    directory = tmp_path_factory.mktemp("served")
    voice = make_spanish_piper_voice(directory)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    digest = {suffix: hashlib.sha256(Path(f"{voice}{suffix}").read_bytes()).hexdigest() for suffix in ("", ".json")}
    yield {"name": NAME, "url": f"http://127.0.0.1:{server.server_port}/{voice.name}",
           "sha256": digest[""], "config_sha256": digest[".json"]}
    server.shutdown()
    server.server_close()


def fetch(tmp_path: Path, voices: list[dict], extras: list[str]) -> list[dict]:
    """Runs the role's tts_voices.yml on localhost; the results of its tasks, in order."""
    play = tmp_path / "fetch.yml"
    play.write_text(yaml.safe_dump([{
        "hosts": "localhost", "gather_facts": False,
        "tasks": [{"ansible.builtin.include_role": {"name": "capibara6_app", "tasks_from": "tts_voices.yml"}}],
        "vars": {"capibara6_app_user": "root", "capibara6_app_group": "root", "capibara6_app_extras": extras,
                 "capibara6_app_tts_cache_dir": str(tmp_path / "cache"), "capibara6_app_tts_voices": voices},
        # The restart role's handlers are the site's business; here a notice is enough.
        "handlers": [{"name": "capibara6 restart", "ansible.builtin.debug": {"msg": "restart"}}],
    }]))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_ROLES_PATH=str(ROOT / "deploy" / "ansible" / "roles"),
               PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                           "-e", f"ansible_python_interpreter={sys.executable}", str(play)],
                          capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return [task["hosts"]["localhost"] | {"task": task["task"]["name"]}
            for task in json.loads(proc.stdout)["plays"][0]["tasks"] if "localhost" in task["hosts"]]


def by_name(results: list[dict], start: str) -> dict:
    return next(result for result in results if result["task"].split(" : ")[-1].startswith(start))


@pytest.mark.timeout(300)
def test_a_served_voice_is_fetched_whole_and_checked_once(tmp_path, voice_server):
    first = fetch(tmp_path, [voice_server], ["models"])
    voices = tmp_path / "cache" / "voices"
    assert sorted(p.name for p in voices.iterdir()) == [f"{NAME}.onnx", f"{NAME}.onnx.json"]
    assert hashlib.sha256((voices / f"{NAME}.onnx").read_bytes()).hexdigest() == voice_server["sha256"]
    assert by_name(first, "Fetch each voice")["changed"] is True
    assert by_name(first, "Restart tts").get("skipped") is not True
    second = fetch(tmp_path, [voice_server], ["models"])
    assert by_name(second, "Fetch each voice")["changed"] is False
    assert by_name(second, "Say which voice").get("skipped") is True


@pytest.mark.timeout(300)
@pytest.mark.parametrize("extras, fallback", [
    (["models"], "the packaged English Piper voice (joe, en_US) reading Spanish phonemes: not native"),
    ([], "espeak-ng's Spanish voice"),
])
def test_a_voice_that_cannot_be_fetched_is_reported_with_its_fallback(tmp_path, voice_server, extras, fallback):
    unreachable = dict(voice_server, url="http://127.0.0.1:9/nowhere.onnx")  # the discard port: refused
    results = fetch(tmp_path, [unreachable], extras)
    message = by_name(results, "Say which voice")["msg"]
    assert message.startswith(f"Could not fetch the TTS voice {NAME} (Request failed")
    assert message.endswith(f"TTS falls back to {fallback}.")
    assert list((tmp_path / "cache" / "voices").iterdir()) == []
