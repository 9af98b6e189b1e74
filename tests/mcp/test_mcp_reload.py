"""Reload (SIGHUP) and restart: the index changes under a running service, and survives a restart."""

from __future__ import annotations

import signal
import threading
import time

import requests

from tests.mcp.conftest import start_mcp

BACKUP_QUESTION = "When does the nightly database backup run?"


def manual(paragraphs: int = 24) -> str:
    """A document of many pieces: embedded 4 at a time, its reload has turns for requests between."""
    filler = [f"Note {i}: the meeting room number {i} on floor {i % 5} has {i % 9 + 2} chairs, a "
              "whiteboard, a projector and a window to the courtyard. Book it in the internal portal "
              "at least one day ahead; cancel it there too, so that others can use it."
              for i in range(paragraphs)]
    return "\n\n".join(["# Operations manual",
                        "The nightly database backup runs every day at 03:00 UTC and keeps 30 copies.",
                        *filler])


def reload_and_wait(mcp, documents: int) -> None:
    """SIGHUP, then wait until the new index is in place (the process keeps serving meanwhile)."""
    mcp.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        index = requests.get(mcp.url + "/health", timeout=10).json()["checks"]["index"]
        if not index["reindexing"] and index["documents"] == documents:
            return
        time.sleep(0.1)
    raise AssertionError(f"the reload did not finish:\n{mcp.log()}")


def test_an_empty_folder_serves_then_sighup_indexes_a_new_document_while_requests_continue(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    mcp = start_mcp(tmp_path, {"CAPIBARA6_MCP_DOCS_DIR": str(docs), "CAPIBARA6_MCP_EMBED_BATCH": "4"})
    try:
        assert "<4>capibara6.mcp.knowledge: the documents folder" in mcp.log()
        contexts = requests.get(f"{mcp.url}/api/mcp/contexts", timeout=10).json()["contexts"]
        assert next(c for c in contexts if c["id"] == "documents")["documents"] == 0
        before = requests.post(f"{mcp.url}/api/mcp/augment", json={"prompt": BACKUP_QUESTION}, timeout=30).json()
        assert before["needs_context"] is False

        (docs / "manual.md").write_text(manual(), encoding="utf-8")
        statuses, saw_reindexing, stop = [], [], threading.Event()

        def keep_asking():
            while not stop.is_set():
                reply = requests.post(f"{mcp.url}/api/mcp/augment", json={"prompt": "¿Qué día es hoy?"}, timeout=60)
                statuses.append(reply.status_code)
                health = requests.get(mcp.url + "/health", timeout=10).json()
                saw_reindexing.append(health["checks"]["index"]["reindexing"])

        asker = threading.Thread(target=keep_asking)
        asker.start()
        try:
            reload_and_wait(mcp, documents=1)
        finally:
            stop.set()
            asker.join(60)
        assert statuses and set(statuses) == {200}
        assert True in saw_reindexing   # requests were answered while the new index was built

        after = requests.post(f"{mcp.url}/api/mcp/augment", json={"prompt": BACKUP_QUESTION}, timeout=30).json()
        assert after["needs_context"] is True
        assert after["sources"][0]["document"] == "manual.md" and "03:00" in after["sources"][0]["text"]
        # Only the new document was embedded; the facts and the date phrasings were reused.
        assert "(3 reused, " in mcp.log()

        # A reload that fails (the folder is gone) keeps the index it had.
        docs.rename(tmp_path / "moved")
        mcp.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while "reload failed" not in mcp.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "<3>capibara6.serve: reload failed: the documents folder" in mcp.log()
        kept = requests.post(f"{mcp.url}/api/mcp/augment", json={"prompt": BACKUP_QUESTION}, timeout=30).json()
        assert kept["sources"][0]["document"] == "manual.md"
        assert mcp.proc.poll() is None
    finally:
        mcp.stop()
