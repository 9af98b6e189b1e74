"""Incremental indexing and the saved index, with a stand-in for the embedding model.

The stand-in turns a text into a fixed pseudo-random unit vector and counts
what it was asked to embed, so these tests see exactly which documents were
embedded again. The real model is exercised by the service tests.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from capibara6.mcp.indexing import INDEX_FILE, Indexer
from capibara6.mcp.settings import PACKAGED_FACTS
from capibara6.mcp.sources import load_facts, scan_folder


class CountingModel:
    dimension = 8

    def __init__(self, fingerprint: str = "model-a"):
        self.fingerprint = fingerprint
        self.embedded: list[str] = []

    def encode(self, texts, batch_size=32, progress=None):
        rows = []
        for start in range(0, len(texts), batch_size):
            for text in texts[start:start + batch_size]:
                self.embedded.append(text)
                seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
                vector = np.random.default_rng(seed).normal(size=self.dimension)
                rows.append(vector / np.linalg.norm(vector))
            if progress is not None:
                progress(len(rows), len(texts))
        return np.asarray(rows, dtype=np.float32)


@pytest.fixture
def folder(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "uno.md").write_text("# Uno\n\nEl primer documento.\n\nSu segundo párrafo.", encoding="utf-8")
    (docs / "dos.md").write_text("# Dos\n\nEl segundo documento.", encoding="utf-8")
    return docs


def build(indexer, folder, previous=None):
    scan = scan_folder(folder, 10_000)
    return indexer.build(load_facts(PACKAGED_FACTS).documents + scan.documents, scan.skipped, previous)


def make_indexer(tmp_path, model, **kwargs):
    return Indexer(model, tmp_path / "state", chunk_chars=kwargs.get("chunk_chars", 600),
                   chunk_overlap=kwargs.get("chunk_overlap", 100))


def test_only_new_and_changed_documents_are_embedded(tmp_path, folder):
    model = CountingModel()
    indexer = make_indexer(tmp_path, model)
    first = build(indexer, folder)
    assert first.reused == 0 and len(first) == len(model.embedded)

    model.embedded.clear()
    (folder / "dos.md").write_text("# Dos\n\nEl segundo documento, cambiado.", encoding="utf-8")
    (folder / "tres.md").write_text("# Tres\n\nUno nuevo.", encoding="utf-8")
    (folder / "uno.md").unlink()
    second = build(indexer, folder, previous=first)
    assert sorted(model.embedded) == ["Dos: El segundo documento, cambiado.", "Tres: Uno nuevo."]
    assert second.reused == 3  # the two facts contexts and the date phrasings
    assert "docs/uno.md" not in second.documents
    # Reused rows keep their vectors: the row of a fact has the same vector in both indexes.
    entry_a, entry_b = first.documents["facts/company_info"], second.documents["facts/company_info"]
    assert np.array_equal(first.vectors[entry_a.start:entry_a.end], second.vectors[entry_b.start:entry_b.end])
    # And every row's vector is the one its own text embeds to.
    for key, entry in second.documents.items():
        if key.startswith("docs/"):
            row = second.rows[entry.start]
            expected = CountingModel().encode([f"{entry.title}: {row.text}"])[0]
            assert np.allclose(second.vectors[entry.start], expected)


def test_a_restart_reuses_the_saved_index(tmp_path, folder):
    build(make_indexer(tmp_path, CountingModel()), folder)
    assert (tmp_path / "state" / INDEX_FILE).is_file()
    model = CountingModel()
    again = build(make_indexer(tmp_path, model), folder)
    assert model.embedded == [] and again.reused == len(again.documents) == 5


@pytest.mark.parametrize("change", ["model", "chunking"])
def test_a_saved_index_from_another_model_or_chunking_is_not_reused(tmp_path, folder, change):
    build(make_indexer(tmp_path, CountingModel()), folder)
    model = CountingModel("model-b" if change == "model" else "model-a")
    indexer = make_indexer(tmp_path, model, chunk_chars=300 if change == "chunking" else 600)
    again = build(indexer, folder)
    assert again.reused == 0 and len(model.embedded) == len(again)


def test_a_corrupt_saved_index_is_ignored_and_rebuilt(tmp_path, folder, caplog):
    build(make_indexer(tmp_path, CountingModel()), folder)
    (tmp_path / "state" / INDEX_FILE).write_bytes(b"not an npz file")
    model = CountingModel()
    again = build(make_indexer(tmp_path, model), folder)
    assert again.reused == 0 and model.embedded
    assert "ignoring the saved index" in caplog.text


def test_search_ranks_the_matching_row_first_and_filters_contexts(tmp_path, folder):
    model = CountingModel()
    index = build(make_indexer(tmp_path, model), folder)
    text = "Dos: El segundo documento."
    vector = model.encode([text])[0]
    from capibara6.mcp.lexical import terms
    hits = index.search(vector, terms(text), dense_weight=0.5, top_k=3)
    assert hits[0].row.document == "docs/dos.md" and hits[0].score == pytest.approx(1.0, abs=1e-5)
    only_facts = index.search(vector, terms(text), dense_weight=0.5, top_k=3, contexts={"company_info"})
    assert {hit.row.context for hit in only_facts} == {"company_info"}
    dated = index.search(vector, terms(text), dense_weight=0.5, top_k=20, one_per=frozenset({"current_date"}))
    assert sum(hit.row.document == "current_date" for hit in dated) == 1


def test_a_long_build_saves_its_finished_documents_so_a_restart_embeds_only_the_rest(tmp_path, folder):
    build(make_indexer(tmp_path, CountingModel()), folder)
    for number in range(6):
        (folder / f"extra-{number}.md").write_text(f"# Extra {number}\n\nOne piece.", encoding="utf-8")

    class Stopped(Exception):
        pass

    def stop_in_the_second_round(done, total):
        if done > 2:
            raise Stopped

    indexer = make_indexer(tmp_path, CountingModel())
    indexer.round_pieces, indexer.checkpoint_every_s = 2, 0.0
    scan = scan_folder(folder, 10_000)
    with pytest.raises(Stopped):
        indexer.build(load_facts(PACKAGED_FACTS).documents + scan.documents, scan.skipped,
                      progress=stop_in_the_second_round)
    saved = indexer.load()
    assert {"docs/extra-0.md", "docs/extra-1.md", "docs/uno.md", "docs/dos.md"} <= set(saved.documents)
    assert "docs/extra-2.md" not in saved.documents and "docs/extra-5.md" not in saved.documents

    model = CountingModel()
    again = build(make_indexer(tmp_path, model), folder)
    assert sorted(model.embedded) == [f"Extra {n}: One piece." for n in range(2, 6)]
    assert again.reused == 3 + 2 + 2 and len(again.documents) == 11
    for key, entry in again.documents.items():   # the saved vectors landed on their own rows
        if key.startswith("docs/extra-"):
            expected = CountingModel().encode([f"{entry.title}: One piece."])[0]
            assert np.allclose(again.vectors[entry.start], expected)
