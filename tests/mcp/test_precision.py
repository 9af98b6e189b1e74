"""bfloat16 finds what float32 finds: the retrieval test set gives the same sources in both.

The knowledge base is built twice in this process from the same folder (the
service tests' corpus and the built-in facts, plus generated notes as
distractors), once with the packaged MiniLM in float32 (the precision every
index had before bfloat16) and once in bfloat16 (what "auto" picks on a CPU
with AMX or AVX512-BF16), and every question and claim of the service tests
goes through augment and verify on both. Quality is what is checked here;
the speed is bench/mcp.py's.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from capibara6.kit.settings import Env
from capibara6.mcp import rag
from capibara6.mcp.clock import Clock
from capibara6.mcp.embedding import Embedder
from capibara6.mcp.indexing import Indexer
from capibara6.mcp.knowledge import KnowledgeBase
from capibara6.mcp.settings import McpSettings
from capibara6.mcp.sources import load_facts
from tests.mcp.conftest import (DATE_QUESTION, FACT_QUESTION, FALSE_CLAIMS, QUESTIONS_AND_DOCUMENTS, TRUE_CLAIMS,
                                UNRELATED_QUESTIONS, write_corpus)
from tests.mcp.corpus import write_folder

NOTES, PARAGRAPHS = 6, 10
# Scores may move this much between the two precisions (they are cosines and term overlaps, 0..1).
SCORE_TOLERANCE = 0.01


def knowledge_in(docs: Path, state: Path, precision: str) -> KnowledgeBase:
    settings = McpSettings.from_env(Env({"CAPIBARA6_MCP_DOCS_DIR": str(docs), "CAPIBARA6_STATE_DIR": str(state)}))
    embedder = Embedder(settings.embedding_model, "cpu", settings.torch_threads, precision,
                        build_passes=settings.build_threads)
    indexer = Indexer(embedder, state, chunk_chars=settings.chunk_chars, chunk_overlap=settings.chunk_overlap,
                      batch_size=settings.embed_batch)
    knowledge = KnowledgeBase(settings, load_facts(settings.facts_file), embedder, indexer,
                              Clock(settings.timezone))
    knowledge.warm_up()
    deadline = time.monotonic() + 600
    while knowledge.builds < 1 or knowledge.health()[1]["reindexing"]:
        assert time.monotonic() < deadline, "the index build did not end"
        time.sleep(0.05)
    assert knowledge.last_error is None
    return knowledge


def note_questions(docs: Path, count: int = 12, seed: int = 3) -> list[tuple[str, str]]:
    """(the first words of a generated note's paragraph, that note's file name)."""
    rng = random.Random(seed)
    asked = []
    for _ in range(count):
        note = f"nota-{rng.randrange(NOTES):04d}.md"
        paragraphs = (docs / note).read_text(encoding="utf-8").split("\n\n")[1:]
        asked.append((" ".join(rng.choice(paragraphs).split()[:14]), note))
    return asked


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    docs = write_corpus(tmp_path_factory.mktemp("docs"))
    write_folder(docs, NOTES, PARAGRAPHS)
    return docs


@pytest.fixture(scope="module")
def both(tmp_path_factory, folder) -> dict[str, KnowledgeBase]:
    return {precision: knowledge_in(folder, tmp_path_factory.mktemp(f"state-{precision}"), precision)
            for precision in ("float32", "bfloat16")}


def test_the_precision_is_the_one_asked_for(both):
    for precision, knowledge in both.items():
        assert knowledge.embedder.precision == precision
        assert next(knowledge.embedder._model.parameters()).dtype == getattr(torch, precision)
        vector = knowledge.embedder.encode_one("¿Cuánto pesa un capibara?")
        assert vector.dtype == "float32" and abs(float(vector @ vector) - 1) < 1e-5


def test_a_text_in_a_build_s_batch_gets_the_vector_it_gets_alone(both):
    """A build tokenizes all its texts once, cuts each batch to its longest text and embeds
    batches on several threads at once: texts of very different lengths (one beyond the
    model's 256 tokens), in batches of mixed lengths."""
    texts = ["capibara", "¿Qué día es hoy?", "La biblioteca de Valencia abre a las nueve " * 3,
             "El volcán " * 200, "The backup job runs every night at 03:00, con el código 4411."] * 3
    for knowledge in both.values():
        embedder = knowledge.embedder
        batched = embedder.encode(texts, batch_size=4)
        alone = np.stack([embedder.encode_one(text) for text in texts])
        assert float((batched * alone).sum(axis=1).min()) > 0.9999


def sources(reply: dict) -> list[tuple]:
    return [(source["context"], source["document"]) for source in reply["sources"]]


def assert_same_augment(both, question: str) -> dict:
    replies = {p: rag.augment(k, question, top_k=k.settings.top_k) for p, k in both.items()}
    old, new = replies["float32"], replies["bfloat16"]
    assert sources(new) == sources(old) and new["needs_context"] == old["needs_context"], question
    for before, after in zip(old["sources"], new["sources"]):
        assert abs(after["score"] - before["score"]) < SCORE_TOLERANCE, question
    return old


@pytest.mark.parametrize("question, document", QUESTIONS_AND_DOCUMENTS)
def test_a_question_about_a_document_brings_the_same_sources(both, question, document):
    assert sources(assert_same_augment(both, question))[0] == ("documents", document)


@pytest.mark.parametrize("question", UNRELATED_QUESTIONS)
def test_an_unrelated_question_is_left_alone_in_both(both, question):
    assert assert_same_augment(both, question)["needs_context"] is False


def test_the_date_and_a_built_in_fact_come_first_in_both(both):
    assert sources(assert_same_augment(both, DATE_QUESTION))[0][0] == "current_date"
    assert sources(assert_same_augment(both, FACT_QUESTION))[0][0] == "technical_specs"


def test_a_paragraph_s_first_words_find_its_note_in_both(both, folder):
    for question, note in note_questions(folder):
        assert sources(assert_same_augment(both, question))[0] == ("documents", note)


@pytest.mark.parametrize("claim, verified", [(claim, True) for claim in TRUE_CLAIMS]
                         + [(claim, False) for claim in FALSE_CLAIMS])
def test_claims_verify_alike(both, claim, verified):
    replies = {p: rag.verify(k, claim) for p, k in both.items()}
    old, new = replies["float32"], replies["bfloat16"]
    assert old["verified"] is new["verified"] is verified
    assert sources(new) == sources(old)
    assert [s["supports"] for s in new["sources"]] == [s["supports"] for s in old["sources"]]
    assert abs(new["confidence"] - old["confidence"]) < SCORE_TOLERANCE
