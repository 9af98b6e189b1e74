"""Reload (SIGHUP) and restart: the index changes under a running service, and survives a restart."""

from __future__ import annotations

import signal
import threading

import requests

from tests.mcp.conftest import index_check, start_mcp, wait_indexed

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


def reload_and_wait(mcp, documents: int) -> dict:
    """SIGHUP, then wait until the index built in the background is in place (the process keeps
    serving meanwhile); the index check of /health then."""
    builds = index_check(mcp)["builds"]
    mcp.proc.send_signal(signal.SIGHUP)
    index = wait_indexed(mcp, builds=builds + 1, wait=180)
    assert index["status"] == "ok" and index["documents"] == documents, f"{index}\n{mcp.log()}"
    return index


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

        # A reload that fails (the folder is gone) keeps the index it had, and /health says why.
        docs.rename(tmp_path / "moved")
        builds = index_check(mcp)["builds"]
        mcp.proc.send_signal(signal.SIGHUP)
        failed = wait_indexed(mcp, builds=builds + 1, wait=60)
        assert "<3>capibara6.mcp.knowledge: index build failed, still serving the previous index: " \
               "the documents folder" in mcp.log()
        health = requests.get(mcp.url + "/health", timeout=10)
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        assert failed["status"] == "failed" and str(docs) in failed["last_error"]
        assert failed["documents"] == 1
        kept = requests.post(f"{mcp.url}/api/mcp/augment", json={"prompt": BACKUP_QUESTION}, timeout=30).json()
        assert kept["sources"][0]["document"] == "manual.md"
        assert mcp.proc.poll() is None
    finally:
        mcp.stop()
