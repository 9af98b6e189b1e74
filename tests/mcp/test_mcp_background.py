"""The mcp service answers at once and indexes its folder in the background (real waitress, real MiniLM).

The folder is what makes the build slow: PIECES paragraphs, one piece each,
embedded one per forward pass (CAPIBARA6_MCP_EMBED_BATCH=1, a real setting),
so the build takes a while on these cores. NOTIFY_SOCKET points at a socket
of the test, which reads what the service tells systemd (READY=1, STATUS=).
The tests share one process and run in order: each is a later moment of it.
"""

from __future__ import annotations

import shutil
import signal
import socket
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from capibara6.mcp.settings import PACKAGED_FACTS
from tests.mcp.conftest import index_check, start_mcp, wait_indexed
from tests.mcp.corpus import write_folder

PIECES = 600
MORE_PIECES = 400  # added before the stop in the middle of a build
BACKUP = "# Operaciones\n\nLa copia de seguridad nocturna de la base de datos se hace cada día a las 03:00 UTC.\n"
BACKUP_QUESTION = "¿A qué hora se hace la copia de seguridad nocturna de la base de datos?"
PORT_QUESTION = "¿En qué puerto escucha el servicio de chat de Capibara6?"


def write_big_folder(folder: Path, pieces: int = PIECES) -> None:
    write_folder(folder, documents=pieces // 10, paragraphs=10)


class NotifySocket:
    """What systemd would receive on NOTIFY_SOCKET, with the time each message came."""

    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            self.messages.extend((time.monotonic(), line) for line in data.decode().splitlines())

    def statuses(self, since: float = 0.0) -> list[str]:
        return [line[len("STATUS="):] for at, line in list(self.messages)
                if at >= since and line.startswith("STATUS=")]

    def time_of(self, message: str) -> float | None:
        return next((at for at, line in list(self.messages) if line == message), None)

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def ask(mcp, prompt: str) -> dict:
    reply = requests.post(f"{mcp.url}/api/mcp/augment", json={"prompt": prompt}, timeout=60)
    assert reply.status_code == 200, reply.text
    return reply.json()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mcp-background")
    docs = tmp / "docs"
    write_big_folder(docs)
    (docs / "operaciones.md").write_text(BACKUP, encoding="utf-8")
    facts_file = tmp / "facts.yaml"
    shutil.copy(PACKAGED_FACTS, facts_file)
    notify = NotifySocket(tmp / "notify.sock")
    env = {"CAPIBARA6_MCP_DOCS_DIR": str(docs), "CAPIBARA6_MCP_FACTS_FILE": str(facts_file),
           "CAPIBARA6_MCP_EMBED_BATCH": "1", "NOTIFY_SOCKET": str(notify.path)}
    spawned = time.monotonic()
    mcp = start_mcp(tmp, env, indexed=False)
    ready_s = time.monotonic() - spawned
    at_ready = index_check(mcp)
    print(f"\nmcp with {PIECES + 1} pieces to embed: /health 200 (READY) after {ready_s:.1f}s; "
          f"index then: {at_ready}")
    yield SimpleNamespace(mcp=mcp, docs=docs, facts_file=facts_file, notify=notify, env=env, tmp=tmp,
                          spawned=spawned, ready_s=ready_s, at_ready=at_ready)
    mcp.stop()
    notify.close()


def test_it_is_ready_and_degraded_before_the_folder_is_indexed(service):
    at_ready = service.at_ready
    assert at_ready["status"] == "indexing" and at_ready["reindexing"], at_ready
    assert at_ready["builds"] == 0 and at_ready["documents"] == 0   # a cold start: nothing was saved
    progress = at_ready["progress"]
    assert progress["total"] is None or progress["done"] < progress["total"], progress
    health = requests.get(service.mcp.url + "/health", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "degraded"
    # READY=1 went to systemd while the build ran, with a STATUS= line that says so.
    ready_at = service.notify.time_of("READY=1")
    assert ready_at is not None
    assert any(line.startswith("indexing: ") for line in service.notify.statuses(since=ready_at - 0.01))


def test_progress_counts_up_while_augment_answers_from_the_facts(service):
    mcp, samples = service.mcp, []
    while len(samples) < 3:
        answer = ask(mcp, PORT_QUESTION)
        assert answer["needs_context"] is True
        assert answer["sources"][0]["context"] == "technical_specs" and "5001" in answer["sources"][0]["text"]
        backup = ask(mcp, BACKUP_QUESTION)
        index = index_check(mcp)
        assert index["status"] == "indexing", "the build ended too soon to watch it: raise PIECES"
        # Still indexing after the reply: the reply came from the index before the swap.
        assert all(source["document"] != "operaciones.md" for source in backup["sources"])
        if index["progress"]["total"] is not None:
            samples.append(index["progress"])
        time.sleep(1.0)
    assert samples[0]["total"] == samples[-1]["total"] == PIECES + 1
    assert samples[0]["done"] < samples[-1]["done"] < PIECES + 1, samples
    assert samples[-1]["pieces_per_s"] > 0
    embedded = [line for line in service.notify.statuses() if "pieces embedded" in line]
    assert len(set(embedded)) >= 2, embedded   # STATUS= followed the build, not only the watchdog


def test_the_new_index_is_served_after_the_swap(service):
    mcp = service.mcp
    index = wait_indexed(mcp, builds=1, wait=600)
    swapped_s = time.monotonic() - service.spawned
    assert index["status"] == "ok" and index["documents"] == PIECES // 10 + 1 and index["last_error"] is None
    assert requests.get(mcp.url + "/health", timeout=10).json()["status"] == "ok"
    answer = ask(mcp, BACKUP_QUESTION)
    assert answer["sources"][0]["document"] == "operaciones.md" and "03:00" in answer["sources"][0]["text"]
    assert service.notify.statuses()[-1].startswith(f"serving {index['pieces']} pieces from "
                                                    f"{index['documents']} documents")
    print(f"\nswap {swapped_s:.1f}s after the start ({service.ready_s:.1f}s to READY); build "
          f"{index['last_build_s']:.1f}s for {PIECES + 1} pieces: {(PIECES + 1) / index['last_build_s']:.1f} "
          "pieces/s with the model's query turns")


def test_a_reload_rebuilds_in_the_background_while_requests_are_answered(service):
    mcp = service.mcp
    before = index_check(mcp)
    for number in range(3):
        (service.docs / f"vacaciones-{number}.md").write_text(
            f"# Vacaciones {number}\n\nEl equipo {number} pide las vacaciones con {number + 2} semanas de antelación.",
            encoding="utf-8")
    mcp.proc.send_signal(signal.SIGHUP)
    seen = []
    while True:
        index = index_check(mcp)
        assert ask(mcp, PORT_QUESTION)["needs_context"] is True
        seen.append(index["status"])
        if index["builds"] > before["builds"] and not index["reindexing"]:
            break
    assert "indexing" in seen and index["status"] == "ok"
    assert index["documents"] == before["documents"] + 3
    assert f"({PIECES // 10 + 1 + 3} reused, 3 pieces embedded" in mcp.log()   # only the new ones
    answer = ask(mcp, "¿Con cuántas semanas de antelación pide las vacaciones el equipo 2?")
    assert answer["sources"][0]["document"] == "vacaciones-2.md"


def test_a_failing_build_leaves_the_old_index_serving_and_health_says_why(service):
    mcp = service.mcp
    before = index_check(mcp)
    good = service.facts_file.read_text(encoding="utf-8")
    service.facts_file.write_text("contexts: [", encoding="utf-8")
    mcp.proc.send_signal(signal.SIGHUP)
    failed = wait_indexed(mcp, builds=before["builds"] + 1)
    health = requests.get(mcp.url + "/health", timeout=10).json()
    assert health["status"] == "degraded" and failed["status"] == "failed"
    assert failed["last_error"].startswith(f"CAPIBARA6_MCP_FACTS_FILE: cannot read {service.facts_file}")
    assert failed["pieces"] == before["pieces"]
    assert "the last index build failed: CAPIBARA6_MCP_FACTS_FILE" in service.notify.statuses()[-1]
    assert ask(mcp, PORT_QUESTION)["sources"][0]["context"] == "technical_specs"
    assert ask(mcp, BACKUP_QUESTION)["sources"][0]["document"] == "operaciones.md"

    service.facts_file.write_text(good, encoding="utf-8")
    mcp.proc.send_signal(signal.SIGHUP)
    healed = wait_indexed(mcp, builds=failed["builds"] + 1)
    assert healed["status"] == "ok" and healed["last_error"] is None


def test_a_stop_during_a_build_is_clean_and_a_restart_serves_the_saved_index_at_once(service):
    mcp = service.mcp
    saved = index_check(mcp)
    # Enough to still be embedding when the stop lands (the build stops only once the server
    # has drained): with two passes at once, 100 pieces once finished before it.
    write_big_folder(service.docs / "more", pieces=MORE_PIECES)
    mcp.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 120
    while not ((index_check(mcp)["progress"] or {}).get("done") or 0):
        assert time.monotonic() < deadline, mcp.log()
        time.sleep(0.1)
    assert mcp.stop() == 0       # SIGTERM in the middle of a build: a clean exit
    first_log = mcp.log()
    again = start_mcp(service.tmp, {**service.env, "NOTIFY_SOCKET": ""}, port=mcp.port, indexed=False)
    try:
        # Right after READY, the documents come from the saved index: nothing was embedded again.
        assert ask(again, BACKUP_QUESTION)["sources"][0]["document"] == "operaciones.md"
        new_lines = again.log()[len(first_log):]
        assert "starting index in " in new_lines
        assert f"({saved['documents'] + 3} reused, 0 pieces embedded" in new_lines
        # The build cut short is done again (its documents were not saved), in the background.
        indexed = wait_indexed(again)
        assert indexed["status"] == "ok" and indexed["documents"] == saved["documents"] + MORE_PIECES // 10
        assert f"({saved['documents'] + 3} reused, {MORE_PIECES} pieces embedded" in again.log()[len(first_log):]
    finally:
        again.stop()
