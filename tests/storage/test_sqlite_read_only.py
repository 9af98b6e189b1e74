"""A state directory the service cannot write (read-only mount, wrong owner, full disk).

Save must answer 503 storage_unavailable, not a generic 500, and /health say
degraded naming the state directory, until a write works again. The chat
service runs in its own mount namespace (unshare) where its state directory
is a bind mount; the test remounts it read-only and back (nsenter), a real
read-only file system (EROFS) that even root cannot write, gone with the
process.
"""

from __future__ import annotations

import sqlite3
import subprocess

import requests

from tests.processes import ServiceProcess


class OwnMountService(ServiceProcess):
    """A service whose state directory is a bind mount in its own mount namespace."""

    def command(self) -> list[str]:
        state = self.env["CAPIBARA6_STATE_DIR"]
        return ["unshare", "--mount", "--propagation", "private",
                "sh", "-c", 'mount --bind "$0" "$0" && exec "$@"', state, *super().command()]

    def remount_state(self, mode: str) -> None:
        subprocess.run(["nsenter", "--target", str(self.proc.pid), "--mount", "mount", "-o",
                        f"remount,bind,{mode}", self.env["CAPIBARA6_STATE_DIR"]], check=True)


def save(chat: ServiceProcess, text: str) -> requests.Response:
    return requests.post(f"{chat.url}/api/save-conversation", timeout=10,
                         json={"message": text, "response": "vale"})


def storage_check(chat: ServiceProcess) -> tuple[str, dict]:
    health = requests.get(f"{chat.url}/health", timeout=10)
    assert health.status_code == 200
    return health.json()["status"], health.json()["checks"]["storage"]


def test_read_only_state_dir_is_503_and_degraded_until_a_write_works(tmp_path, fake_ollama):
    state = tmp_path / "state"
    state.mkdir()
    chat = OwnMountService("chat", {"CAPIBARA6_STATE_DIR": str(state),
                                    "OLLAMA_URL": fake_ollama.url}, tmp_path).start()
    try:
        assert save(chat, "antes").status_code == 200
        chat.remount_state("ro")

        refused = save(chat, "sin disco")
        assert refused.status_code == 503, refused.text
        assert refused.json()["code"] == "storage_unavailable"
        assert "storage" in refused.json()["error"]
        status, check = storage_check(chat)
        assert status == "degraded" and check["status"] == "error"
        assert check["backend"] == "sqlite" and check["where"].startswith(str(state))
        assert check["error"]
        assert storage_check(chat)[0] == "degraded"  # still, while no write works

        chat.remount_state("rw")
        status, check = storage_check(chat)  # the health check's own write works again
        assert status == "ok" and check["status"] == "ok"
        assert save(chat, "después").status_code == 200
    finally:
        chat.stop()
    rows = sqlite3.connect(state / "conversations.sqlite3").execute(
        "SELECT message FROM messages ORDER BY rowid").fetchall()
    assert rows == [("antes",), ("después",)]  # nothing acknowledged lost, nothing refused kept
    assert "Traceback" not in chat.log()
