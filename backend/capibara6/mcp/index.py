"""The search index: one row per piece of a source, its vector and its terms.

An Index never changes once built. A reload builds a new one beside it and
the knowledge base swaps the reference in one assignment, so a request sees
the old index or the new one, never half of each.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from capibara6.mcp.lexical import TermIndex, terms


@dataclass(frozen=True)
class Row:
    document: str   # the Document key it came from
    context: str
    name: str       # the document's name as a person reads it
    heading: str
    text: str       # what is shown and added to a prompt


@dataclass(frozen=True)
class DocumentEntry:
    sha256: str
    context: str
    name: str
    title: str
    start: int      # its rows are rows[start:end]
    end: int


@dataclass(frozen=True)
class Hit:
    row: Row
    score: float    # dense_weight * cosine + (1 - dense_weight) * term coverage
    cosine: float
    coverage: float


def embedded_text(title: str, heading: str, text: str) -> str:
    """What is embedded (and matched for terms): the piece under its document's title and section."""
    if not title:
        return text
    where = title if not heading or heading == title else f"{title} — {heading}"
    return f"{where}: {text}"


@dataclass
class Index:
    rows: list[Row]
    vectors: np.ndarray                      # (len(rows), dimension), unit rows, float32
    documents: dict[str, DocumentEntry]
    skipped: list[dict] = field(default_factory=list)
    reused: int = 0                          # documents whose vectors were reused, not re-embedded
    embedded: int = 0                        # pieces embedded for this build

    def __post_init__(self):
        ordered = [""] * len(self.rows)
        for entry in self.documents.values():
            for offset, row in enumerate(self.rows[entry.start:entry.end]):
                ordered[entry.start + offset] = embedded_text(entry.title, row.heading, row.text)
        self.terms = TermIndex([terms(text) for text in ordered])
        context_ids = sorted({row.context for row in self.rows})
        self._context_number = {context: number for number, context in enumerate(context_ids)}
        self._row_context = np.asarray([self._context_number[row.context] for row in self.rows],
                                       dtype=np.int32)

    def __len__(self) -> int:
        return len(self.rows)

    def documents_of(self, context: str) -> list[tuple[str, DocumentEntry]]:
        return [(key, entry) for key, entry in self.documents.items() if entry.context == context]

    def search(self, query_vector: np.ndarray, query_terms: frozenset[str], *, dense_weight: float,
               top_k: int, contexts: set[str] | None = None, one_per: frozenset[str] = frozenset(),
               ) -> list[Hit]:
        """The best top_k rows, best first. Rows of a document in one_per count once
        (its best row): twelve phrasings of "what day is it" are one source."""
        if not self.rows:
            return []
        cosine = self.vectors @ query_vector.astype(np.float32, copy=False)
        coverage = self.terms.coverage(query_terms)
        scores = dense_weight * cosine + (1.0 - dense_weight) * coverage
        if contexts is not None:
            allowed = [self._context_number[c] for c in contexts if c in self._context_number]
            scores = np.where(np.isin(self._row_context, allowed), scores, -np.inf)
        wanted = min(len(scores), top_k + 16)  # a little extra for the rows that one_per drops
        candidates = np.argpartition(-scores, wanted - 1)[:wanted]
        candidates = candidates[np.argsort(-scores[candidates], kind="stable")]
        hits, seen = [], set()
        for number in candidates:
            if not np.isfinite(scores[number]):
                break
            row = self.rows[number]
            if row.document in one_per:
                if row.document in seen:
                    continue
                seen.add(row.document)
            hits.append(Hit(row, float(scores[number]), float(cosine[number]), float(coverage[number])))
            if len(hits) == top_k:
                break
        return hits
