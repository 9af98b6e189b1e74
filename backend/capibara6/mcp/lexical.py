"""The term-overlap half of a source's score.

Why not embeddings alone: the packaged MiniLM was trained on English. For
Spanish text it scores any short question close to any other ("¿Qué es la
fotosíntesis?" lands at 0.63 against "¿Qué día es hoy?"), and it barely sees
figures and names ("erupted in 1850" against a text that says 1909 scores
0.75). So a source's score also counts how much of the query's rare
vocabulary it contains: the IDF-weighted share of the query's terms that
occur in the source, in 0..1. A term is a lower-cased, accent-free word cut
to its first five letters (a crude stem that joins "vacaciones" and
"vacación", "erupted" and "eruption"); numbers stay whole, and the stop
words in stopwords.txt are left out.
"""

from __future__ import annotations

import math
import re
import unicodedata
from pathlib import Path

import numpy as np

STEM_LENGTH = 5
_WORD = re.compile(r"[a-z0-9]+")
# 3,715 / 3.715 / 3 715 are one number (English, Spanish and SI thousands); 3,5 stays two.
_THOUSANDS = re.compile(r"(?<![\d.,])\d{1,3}(?:[.,\u00a0 ]\d{3})+(?![\d]|[.,]\d)")
_STOPWORDS = frozenset(
    word
    for line in Path(__file__).with_name("stopwords.txt").read_text(encoding="utf-8").splitlines()
    if not line.startswith("#")
    for word in line.split()
)


def fold(text: str) -> str:
    """Lower case without accents or thousands separators: 'Vacación 3.715' -> 'vacacion 3715'."""
    # NFKD splits "á" into "a" and a combining accent, which the ASCII encoding drops (with any
    # other non-ASCII character: terms are [a-z0-9] only). Far faster than a per-character loop.
    plain = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode("ascii")
    return _THOUSANDS.sub(lambda match: re.sub(r"\D", "", match.group()), plain)


def terms(text: str) -> frozenset[str]:
    found = set()
    for word in _WORD.findall(fold(text)):
        if word.isdigit():
            found.add(word.lstrip("0") or "0")
        elif len(word) > 1 and word not in _STOPWORDS:
            found.add(word[:STEM_LENGTH])
    return frozenset(found)


def numbers(text: str) -> frozenset[str]:
    """The figures a text states, e.g. {'23', '2025'} (for checking a claim against its source)."""
    return frozenset(word.lstrip("0") or "0" for word in _WORD.findall(fold(text)) if word.isdigit())


class TermIndex:
    """Which rows contain which terms; answers a query's coverage of every row at once."""

    def __init__(self, rows: list[frozenset[str]]):
        self.size = len(rows)
        postings: dict[str, list[int]] = {}
        for row, row_terms in enumerate(rows):
            for term in row_terms:
                postings.setdefault(term, []).append(row)
        self._postings = {term: np.asarray(ids, dtype=np.int32) for term, ids in postings.items()}

    def idf(self, term: str) -> float:
        # BM25's idf: always positive; a term no row has weighs the most.
        found = len(self._postings.get(term, ()))
        return math.log(1 + (self.size - found + 0.5) / (found + 0.5))

    def coverage(self, query_terms: frozenset[str]) -> np.ndarray:
        """For each row, the IDF-weighted share of the query's terms it contains (0..1)."""
        scores = np.zeros(self.size, dtype=np.float32)
        total = 0.0
        for term in query_terms:
            weight = self.idf(term)
            total += weight
            rows = self._postings.get(term)
            if rows is not None:
                scores[rows] += weight
        if total > 0:
            scores /= total
        return scores
