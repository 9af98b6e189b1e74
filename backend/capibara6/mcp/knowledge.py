"""The knowledge base: the contexts, the live index, and searching it.

Three kinds of context: the built-in facts (from the facts file), the
current date and time (computed at each request), and the documents folder.
warm_up() loads the model and builds the index before the service says
READY; rebuild() (on SIGHUP) builds a new index while the old one keeps
answering, then swaps it in.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from capibara6.kit.errors import BadRequest, NotFound, NotReady
from capibara6.mcp.clock import Clock
from capibara6.mcp.index import Hit, Index
from capibara6.mcp.indexing import Indexer
from capibara6.mcp.lexical import terms
from capibara6.mcp.sources import DATE_DOCUMENT, DOCUMENTS, Facts, load_facts, scan_folder

log = logging.getLogger("capibara6.mcp.knowledge")


@dataclass(frozen=True)
class Live:
    """What requests read: the facts and the index built from them, swapped together."""
    facts: Facts
    index: Index


class KnowledgeBase:
    def __init__(self, settings, facts: Facts, embedder, indexer: Indexer, clock: Clock):
        self.settings = settings
        self.embedder = embedder
        self.indexer = indexer
        self.clock = clock
        self._first_facts = facts
        self._live: Live | None = None
        self._rebuild_lock = threading.Lock()
        self.rebuilding = False
        self.last_build_s: float | None = None

    # -- building -------------------------------------------------------------

    def warm_up(self) -> None:
        self.embedder.load()
        self.rebuild(reload_facts=False)

    def rebuild(self, reload_facts: bool = True) -> Index | None:
        """Read the facts and the folder again and swap in a new index. Requests keep
        using the current one meanwhile; on an error the current one stays."""
        if not self.embedder.loaded:
            # SIGHUP during the model load: the warm-up's own index, built next, reads the folder then.
            log.info("reload requested while the model loads; the first index will include the changes")
            return None
        with self._rebuild_lock:
            self.rebuilding = True
            started = time.perf_counter()
            try:
                facts = load_facts(self.settings.facts_file) if reload_facts else self._first_facts
                scan = scan_folder(self.settings.docs_dir, self.settings.max_doc_bytes)
                if self.settings.docs_dir is not None and not scan.documents:
                    log.warning("the documents folder %s has no usable .md or .txt file",
                                self.settings.docs_dir)
                previous = self._live.index if self._live is not None else None
                index = self.indexer.build(facts.documents + scan.documents, scan.skipped, previous)
                self._live = Live(facts, index)  # the swap: one assignment
                self.last_build_s = time.perf_counter() - started
                return index
            finally:
                self.rebuilding = False

    def live(self) -> Live:
        live = self._live
        if live is None:
            raise NotReady("the knowledge base is still being indexed; try again shortly")
        return live

    # -- reading ----------------------------------------------------------------

    def contexts(self, live: Live | None = None) -> list[dict]:
        live = live or self.live()
        index, facts = live.index, live.facts
        listed = [{"id": c.id, "name": c.name, "description": c.description, "kind": "facts",
                   "documents": self._pieces(index, c.id)} for c in facts.contexts]
        date = facts.date_context
        listed.append({"id": date.id, "name": date.name, "description": date.description,
                       "kind": "clock", "documents": 1})
        folder = self.settings.docs_dir
        listed.append({"id": DOCUMENTS, "name": "Documentos",
                       "description": f"Los documentos .md y .txt de {folder}" if folder else
                       "Ninguna carpeta de documentos configurada (CAPIBARA6_MCP_DOCS_DIR)",
                       "kind": "folder", "documents": len(index.documents_of(DOCUMENTS))})
        return listed

    def context(self, context_id: str) -> dict:
        live = self.live()
        summary = next((c for c in self.contexts(live) if c["id"] == context_id), None)
        if summary is None:
            raise NotFound(f"no context named {context_id!r}; GET /api/mcp/contexts lists them",
                           code="unknown_context")
        index = live.index
        if summary["kind"] == "facts":
            entry = index.documents[f"facts/{context_id}"]
            data = {"facts": [row.text for row in index.rows[entry.start:entry.end]]}
        elif summary["kind"] == "clock":
            data = self.clock.facts()
        else:
            data = {
                "folder": str(self.settings.docs_dir) if self.settings.docs_dir else None,
                "files": [{"path": e.name, "title": e.title, "pieces": e.end - e.start, "sha256": e.sha256}
                          for _, e in index.documents_of(DOCUMENTS)],
                "skipped": index.skipped,
            }
        return {**summary, "context_id": context_id, "data": data}

    def search(self, text: str, *, top_k: int, contexts: list[str] | None = None,
               with_clock: bool = True) -> list[Hit]:
        """The best pieces for text, best first, with their scores (no threshold applied).
        with_clock=False leaves out the date context (its rows are questions, not facts)."""
        live = self.live()
        known = [c.id for c in live.facts.contexts] + [live.facts.date_context.id, DOCUMENTS]
        allowed = None
        if contexts is not None:
            unknown = [c for c in contexts if c not in known]
            if unknown:
                raise BadRequest(f"unknown context(s): {', '.join(unknown)}; known: {', '.join(known)}",
                                 code="unknown_context")
            allowed = set(contexts)
        if not with_clock:
            allowed = (allowed if allowed is not None else set(known)) - {live.facts.date_context.id}
        vector = self.embedder.encode_one(text)
        return live.index.search(vector, terms(text), dense_weight=self.settings.dense_weight, top_k=top_k,
                            contexts=allowed, one_per=frozenset({DATE_DOCUMENT}))

    def source_text(self, hit: Hit) -> str:
        """What a hit contributes: its text, or for the date context, the date and time now."""
        if hit.row.document == DATE_DOCUMENT:
            return self.clock.text()
        return hit.row.text

    # -- health -----------------------------------------------------------------

    def health(self) -> tuple[bool, dict]:
        index = self._live.index if self._live is not None else None
        details = {
            "status": "ok" if index is not None else "indexing",
            "model": self.embedder.label,
            "model_path": str(self.embedder.directory),
            "device": self.embedder.device,
            "pieces": len(index) if index is not None else 0,
            "documents": len(index.documents_of(DOCUMENTS)) if index is not None else 0,
            "skipped_files": len(index.skipped) if index is not None else 0,
            "reindexing": self.rebuilding,
            "last_build_s": round(self.last_build_s, 3) if self.last_build_s is not None else None,
        }
        return index is not None, details

    def status_line(self) -> str:
        index = self._live.index if self._live is not None else None
        if index is None:
            return "indexing"
        return (f"serving {len(index)} pieces from {len(index.documents_of(DOCUMENTS))} documents "
                f"({len(index.skipped)} skipped); model {self.embedder.label}")

    @staticmethod
    def _pieces(index: Index, context_id: str) -> int:
        entry = index.documents.get(f"facts/{context_id}")
        return entry.end - entry.start if entry else 0
