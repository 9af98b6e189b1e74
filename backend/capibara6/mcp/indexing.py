"""Building the index from the sources, and keeping it on disk between runs.

starting_index() is what the service answers from while the real build runs
in the background: the facts and every document of the saved index as it
was saved (stale, but better than nothing), in the time it takes to read
the file. build() then reads the folder and makes the full index.

A build reuses the rows and vectors of every document whose content hash
is unchanged, from the index in memory (on reload) or the one saved in the
state directory (on start), and embeds only the new or changed documents.
The saved index is one .npz file (vectors and a JSON manifest), replaced
atomically; it is reused only when it was made with the same model files
and the same chunking, else everything is embedded again. A long build
also saves what it has finished every minute or so (whole documents), so
a restart in the middle of it embeds only the rest.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from capibara6.mcp import chunking
from capibara6.mcp.index import DocumentEntry, Index, Row, embedded_text
from capibara6.mcp.sources import Document

log = logging.getLogger("capibara6.mcp.indexing")
FORMAT = 1
INDEX_FILE = "index.npz"
# Called with (pieces embedded so far, pieces to embed) before the first batch and after each.
Progress = Callable[[int, int], None]


def _no_progress(done: int, total: int) -> None:
    pass


@dataclass
class Saved:
    """An index read back from disk: enough to reuse its vectors, not to search it."""
    rows: list[Row]
    vectors: np.ndarray
    documents: dict[str, DocumentEntry]


class Indexer:
    # New pieces are embedded in rounds of about this many (cut between documents); after a
    # round, what is finished is saved if the last save is older than checkpoint_every_s.
    round_pieces = 256
    checkpoint_every_s = 60.0

    def __init__(self, embedder, state_dir: Path, *, chunk_chars: int, chunk_overlap: int,
                 batch_size: int = 16):
        self.embedder = embedder
        self.path = state_dir / INDEX_FILE
        self.chunk_chars = chunk_chars
        self.chunk_overlap = chunk_overlap
        self.batch_size = batch_size

    @property
    def signature(self) -> dict:
        """What a saved index must have been made with to be reused."""
        return {"format": FORMAT, "model": self.embedder.fingerprint,
                "chunking": [self.chunk_chars, self.chunk_overlap]}

    def starting_index(self, facts: list[Document]) -> Index:
        """The facts (embedded only if they changed since the save) and the saved index's other
        documents as they were: what the service serves until build() has read the folder."""
        saved = self.load() or Saved([], np.zeros((0, self.embedder.dimension), np.float32), {})
        fact_keys = {document.key for document in facts}
        kept = [Document(key, entry.context, entry.name, entry.sha256)
                for key, entry in saved.documents.items() if key not in fact_keys]
        return self.build(facts + kept, [], saved, log_as="starting index")

    def build(self, documents: list[Document], skipped: list[dict], previous: Index | Saved | None = None,
              progress: Progress = _no_progress, log_as: str = "index built") -> Index:
        started = time.perf_counter()
        previous = previous if previous is not None else self.load()
        rows: list[Row] = []
        vectors: list[np.ndarray] = []
        entries: dict[str, DocumentEntry] = {}
        to_embed: list[tuple[int, str]] = []   # (row number, embedded text)
        reused = 0
        for document in documents:
            old = previous.documents.get(document.key) if previous is not None else None
            start = len(rows)
            if old is not None and old.sha256 == document.sha256:
                rows.extend(previous.rows[old.start:old.end])
                vectors.append(previous.vectors[old.start:old.end])
                title = old.title
                reused += 1
            else:
                title, pieces = self._pieces(document)
                for heading, text in pieces:
                    to_embed.append((len(rows), embedded_text(title, heading, text)))
                    rows.append(Row(document.key, document.context, document.name, heading, text))
                vectors.append(None)  # filled below, once all new pieces are embedded together
            entries[document.key] = DocumentEntry(document.sha256, document.context, document.name,
                                                  title, start, len(rows))
        matrix = self._matrix(rows, vectors, entries, to_embed, progress)
        index = Index(rows, matrix, entries, skipped=list(skipped), reused=reused, embedded=len(to_embed))
        if previous is None or reused != len(entries) or set(previous.documents) != set(entries):
            self.save(index)
        log.info("%s in %.2fs: %d pieces from %d sources (%d reused, %d pieces embedded, "
                 "%d files skipped)", log_as, time.perf_counter() - started, len(rows), len(entries), reused,
                 len(to_embed), len(skipped))
        return index

    def _pieces(self, document: Document) -> tuple[str, list[tuple[str, str]]]:
        if document.items:
            return "", [("", item) for item in document.items]
        title = chunking.title_of(document.text, document.name)
        pieces = chunking.split(document.text, self.chunk_chars, self.chunk_overlap)
        return title, [(piece.heading, piece.text) for piece in pieces]

    def _matrix(self, rows, vectors, entries, to_embed, progress: Progress) -> np.ndarray:
        dimension = self.embedder.dimension
        matrix = np.zeros((len(rows), dimension), dtype=np.float32)
        for entry, block in zip(entries.values(), vectors):
            if block is not None:
                matrix[entry.start:entry.end] = block
        progress(0, len(to_embed))
        done, saved_at = 0, time.monotonic()
        for batch in self._rounds(rows, to_embed):
            fresh = self.embedder.encode([text for _, text in batch], batch_size=self.batch_size,
                                         progress=lambda count, _: progress(done + count, len(to_embed)))
            matrix[[number for number, _ in batch]] = fresh
            done += len(batch)
            if done < len(to_embed) and time.monotonic() - saved_at >= self.checkpoint_every_s:
                pending = {rows[number].document for number, _ in to_embed[done:]}
                finished = self._finished(rows, matrix, entries, pending)
                self.save(finished)
                saved_at = time.monotonic()
                log.info("saved the %d sources finished so far (%d of %d new pieces embedded)",
                         len(finished.documents), done, len(to_embed))
        return matrix

    def _rounds(self, rows, to_embed):
        """to_embed in rounds of at least round_pieces, each ending with the end of a document."""
        batch: list[tuple[int, str]] = []
        for position, item in enumerate(to_embed):
            batch.append(item)
            following = to_embed[position + 1][0] if position + 1 < len(to_embed) else None
            if len(batch) >= self.round_pieces and (
                    following is None or rows[following].document != rows[item[0]].document):
                yield batch
                batch = []
        if batch:
            yield batch

    @staticmethod
    def _finished(rows, matrix, entries, pending: set[str]) -> Saved:
        """The documents of a build in progress whose pieces all have their vectors."""
        kept_rows, blocks, kept = [], [], {}
        for key, entry in entries.items():
            if key in pending:
                continue
            start = len(kept_rows)
            kept_rows.extend(rows[entry.start:entry.end])
            blocks.append(matrix[entry.start:entry.end])
            kept[key] = DocumentEntry(entry.sha256, entry.context, entry.name, entry.title, start, len(kept_rows))
        vectors = np.concatenate(blocks) if blocks else np.zeros((0, matrix.shape[1]), np.float32)
        return Saved(kept_rows, vectors, kept)

    def save(self, index: Index | Saved) -> None:
        manifest = {
            **self.signature,
            "documents": {key: [e.sha256, e.context, e.name, e.title, e.start, e.end]
                          for key, e in index.documents.items()},
            "rows": [[row.heading, row.text] for row in index.rows],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{INDEX_FILE}.{os.getpid()}.tmp")
        try:
            with open(temporary, "wb") as handle:
                np.savez(handle, vectors=index.vectors,
                         manifest=np.frombuffer(json.dumps(manifest, ensure_ascii=False).encode(), np.uint8))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except OSError as error:
            # The service still serves from memory; the next start embeds again.
            log.warning("could not save the index to %s: %s", self.path, error)
            temporary.unlink(missing_ok=True)

    def load(self) -> Saved | None:
        """The saved index if it matches this model and chunking, else None (and why, in the log)."""
        if not self.path.is_file():
            return None
        try:
            with np.load(self.path, allow_pickle=False) as saved:
                manifest = json.loads(saved["manifest"].tobytes().decode())
                vectors = saved["vectors"]
            if {k: manifest.get(k) for k in self.signature} != self.signature:
                log.info("the saved index was made with another model or chunking; embedding again")
                return None
            entries, rows = {}, []
            texts = manifest["rows"]
            for key, (sha256, context, name, title, start, end) in manifest["documents"].items():
                entries[key] = DocumentEntry(sha256, context, name, title, start, end)
                rows.extend(Row(key, context, name, heading, text) for heading, text in texts[start:end])
            if len(rows) != len(vectors) or vectors.shape[1:] != (self.embedder.dimension,):
                raise ValueError("rows and vectors disagree")
            return Saved(rows, vectors.astype(np.float32, copy=False), entries)
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("ignoring the saved index %s: %s", self.path, error)
            return None
