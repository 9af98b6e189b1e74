"""The knowledge base's background builds, with a stand-in model whose batches a test can hold.

The real model and waitress are in test_mcp_background.py; here a build is
held between two batches (the stand-in waits on an event), so what requests
see while a build runs, and after a swap or a failure, is checked exactly.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from capibara6.mcp.clock import Clock
from capibara6.mcp.indexing import Indexer
from capibara6.mcp.knowledge import KnowledgeBase
from capibara6.mcp.settings import PACKAGED_FACTS
from capibara6.mcp.sources import load_facts
from tests.mcp.test_indexing import CountingModel


class HeldModel(CountingModel):
    """CountingModel with a gate: while `held` is set, a batch of a document's paragraphs
    (write_docs below) waits for `release`; the facts and queries never wait."""

    label, directory, device, precision = "held", Path("/nonexistent"), "cpu", "float32"

    def __init__(self):
        super().__init__()
        self.loaded = False
        self.held = threading.Event()
        self.release = threading.Event()
        self.waiting = threading.Event()

    def load(self):
        self.loaded = True

    def encode(self, texts, batch_size=32, progress=None):
        if self.held.is_set() and any("Paragraph" in text for text in texts):
            def held_after_the_first_batch(done, total):
                if progress is not None:
                    progress(done, total)
                if done == min(batch_size, total):
                    self.waiting.set()
                    assert self.release.wait(30), "the test never released the build"
            return super().encode(texts, batch_size, held_after_the_first_batch)
        return super().encode(texts, batch_size, progress)

    def encode_one(self, text):
        return self.encode([text])[0]


def knowledge_for(tmp_path: Path, docs: Path, model: HeldModel, facts_file: Path = PACKAGED_FACTS):
    settings = SimpleNamespace(docs_dir=docs, facts_file=facts_file, max_doc_bytes=100_000, dense_weight=0.5)
    indexer = Indexer(model, tmp_path / "state", chunk_chars=600, chunk_overlap=100, batch_size=2)
    return KnowledgeBase(settings, load_facts(facts_file), model, indexer, Clock("Europe/Madrid"))


def write_docs(folder: Path, count: int, prefix: str = "doc") -> None:
    folder.mkdir(exist_ok=True)
    for number in range(count):
        (folder / f"{prefix}-{number}.md").write_text(
            f"# {prefix} {number}\n\nParagraph one of {prefix} {number}.\n\nParagraph two of {prefix} {number}.",
            encoding="utf-8")


def wait_for(condition, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def finished(knowledge: KnowledgeBase, builds: int) -> bool:
    ok, index = knowledge.health()
    return index["builds"] >= builds and not index["reindexing"]


@pytest.fixture
def model():
    model = HeldModel()
    yield model
    model.release.set()  # a failed test must not leave a build thread waiting


def test_warm_up_serves_the_facts_while_the_folder_is_indexed_then_swaps(tmp_path, model):
    docs = tmp_path / "docs"
    write_docs(docs, 5)
    knowledge = knowledge_for(tmp_path, docs, model)
    announced = []
    knowledge.announce = lambda: announced.append(knowledge.status_line())
    model.held.set()
    knowledge.warm_up()                    # returns with the build still running
    assert model.waiting.wait(10)
    starting = knowledge.live()
    assert starting.index.documents_of("documents") == []
    assert len(starting.index.documents) == 3   # the two facts contexts and the date phrasings

    ok, health = knowledge.health()
    assert not ok and health["status"] == "indexing" and health["reindexing"]
    assert health["progress"]["phase"] == "embedding"
    assert health["progress"]["total"] == 5 and 0 <= health["progress"]["done"] < 5   # one piece each
    assert knowledge.status_line().startswith(f"indexing: {health['progress']['done']}/5 pieces embedded")
    facts = knowledge.search("¿En qué puerto escucha el chat?", top_k=20)
    assert facts and all(hit.row.context != "documents" for hit in facts)

    model.release.set()
    wait_for(lambda: finished(knowledge, 1))
    ok, health = knowledge.health()
    assert ok and health["status"] == "ok" and health["documents"] == 5 and health["progress"] is None
    swapped = knowledge.live()
    assert swapped is not starting and len(swapped.index.documents_of("documents")) == 5
    assert len(swapped.index.rows) == len(swapped.index.vectors)
    # systemd heard of the build's start, its progress and its end.
    assert announced[0].startswith("indexing: ") and announced[-1].startswith("serving ")
    assert "5 documents" in announced[-1]


def test_a_reader_holds_one_index_for_its_whole_request(tmp_path, model):
    docs = tmp_path / "docs"
    write_docs(docs, 2)
    knowledge = knowledge_for(tmp_path, docs, model)
    knowledge.warm_up()
    wait_for(lambda: finished(knowledge, 1))
    before = knowledge.live()
    write_docs(docs, 4, prefix="new")
    model.held.set()
    knowledge.rebuild()
    assert model.waiting.wait(10)
    assert knowledge.live() is before      # the build works beside it, not in it
    model.release.set()
    wait_for(lambda: finished(knowledge, 2))
    after = knowledge.live()
    assert len(before.index.documents_of("documents")) == 2   # what a request held is unchanged
    assert len(after.index.documents_of("documents")) == 6


def test_a_failing_build_keeps_the_index_and_health_says_why_until_a_build_succeeds(tmp_path, model):
    docs = tmp_path / "docs"
    write_docs(docs, 2)
    knowledge = knowledge_for(tmp_path, docs, model)
    knowledge.warm_up()
    wait_for(lambda: finished(knowledge, 1))
    serving = knowledge.live()
    docs.rename(tmp_path / "moved")
    knowledge.rebuild()
    wait_for(lambda: finished(knowledge, 2))
    ok, health = knowledge.health()
    assert not ok and health["status"] == "failed"
    assert health["last_error"] == f"the documents folder {docs} does not exist"
    assert knowledge.live() is serving and health["documents"] == 2
    assert knowledge.status_line().endswith(f"the last index build failed: {health['last_error']}")

    (tmp_path / "moved").rename(docs)
    knowledge.rebuild()
    wait_for(lambda: finished(knowledge, 3))
    ok, health = knowledge.health()
    assert ok and health["last_error"] is None


def test_reloads_during_a_build_make_one_more_build_that_sees_the_later_changes(tmp_path, model):
    docs = tmp_path / "docs"
    write_docs(docs, 2)
    knowledge = knowledge_for(tmp_path, docs, model)
    model.held.set()
    knowledge.warm_up()
    assert model.waiting.wait(10)          # the first build has read the folder: 2 documents
    write_docs(docs, 3, prefix="late")
    knowledge.rebuild()
    knowledge.rebuild()
    assert knowledge.health()[1]["reindexing"]
    model.held.clear()
    model.release.set()
    wait_for(lambda: finished(knowledge, 2))
    time.sleep(0.2)
    assert knowledge.builds == 2
    assert len(knowledge.live().index.documents_of("documents")) == 5


def test_a_restart_serves_the_saved_documents_before_reading_the_folder(tmp_path, model):
    docs = tmp_path / "docs"
    write_docs(docs, 3)
    first = knowledge_for(tmp_path, docs, model)
    first.warm_up()
    wait_for(lambda: finished(first, 1))

    again_model = HeldModel()
    again_model.held.set()
    write_docs(docs, 1, prefix="added")    # the next build must embed it: it is held there
    again = knowledge_for(tmp_path, docs, again_model)
    try:
        again.warm_up()
        assert again_model.waiting.wait(10)
        assert len(again.live().index.documents_of("documents")) == 3   # the saved ones, at once
        # The facts and the saved documents were reused: only the added one was embedded.
        assert again_model.embedded == ["added 0: Paragraph one of added 0. Paragraph two of added 0."]
    finally:
        again_model.release.set()
    wait_for(lambda: finished(again, 1))
    assert len(again.live().index.documents_of("documents")) == 4


def test_a_broken_facts_file_on_reload_keeps_the_facts_and_says_why(tmp_path, model):
    facts_file = tmp_path / "facts.yaml"
    facts_file.write_text(PACKAGED_FACTS.read_text(encoding="utf-8"), encoding="utf-8")
    docs = tmp_path / "docs"
    write_docs(docs, 1)
    knowledge = knowledge_for(tmp_path, docs, model, facts_file)
    knowledge.warm_up()
    wait_for(lambda: finished(knowledge, 1))
    facts = knowledge.live().facts
    facts_file.write_text("contexts: not a list\n", encoding="utf-8")
    knowledge.rebuild()
    wait_for(lambda: finished(knowledge, 2))
    ok, health = knowledge.health()
    assert not ok and "needs a 'contexts' list" in health["last_error"]
    assert knowledge.live().facts is facts
