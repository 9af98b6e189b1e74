"""The knowledge base: the contexts, the live index, and searching it.

Three kinds of context: the built-in facts (from the facts file), the
current date and time (computed at each request), and the documents folder.

warm_up() loads the model and puts together the starting index (the facts
and the saved index, in seconds) before the service says READY; the full
index is built in a background thread, as is every rebuild() (on SIGHUP).
Requests keep reading the current index meanwhile; the new one replaces it
in one assignment, so a request sees the old index or the new one, never
half of each, and reads it without a lock. A build that fails leaves the
current index serving, and /health says why until a build succeeds. One
build at a time: a rebuild asked for during a build runs once it ends (the
folder may have changed after the running build read it).
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from capibara6.kit.errors import BadRequest, NotFound, NotReady
from capibara6.mcp.clock import Clock
from capibara6.mcp.index import Hit, Index
from capibara6.mcp.indexing import Indexer
from capibara6.mcp.lexical import terms
from capibara6.mcp.sources import DATE_DOCUMENT, DOCUMENTS, Facts, load_facts, scan_folder

log = logging.getLogger("capibara6.mcp.knowledge")
# Progress goes to systemd's STATUS= at most this often (a GPU embeds hundreds of batches a second).
ANNOUNCE_EVERY_S = 1.0
# At exit, how long to wait for a build to stop at its next batch.
STOP_WAIT_S = 10.0


class Stopping(Exception):
    """Raised between two batches of a build when the process exits."""


@dataclass(frozen=True)
class Live:
    """What requests read: the facts and the index built from them, swapped together."""
    facts: Facts
    index: Index


@dataclass
class Build:
    """The build running in the background; only its own thread writes it."""
    started: float = field(default_factory=time.monotonic)
    phase: str = "reading the documents folder"
    done: int = 0                    # pieces embedded so far
    total: int | None = None         # pieces to embed (new or changed); None until the folder is read
    embedding_since: float | None = None

    def progressed(self, done: int, total: int) -> None:
        if self.embedding_since is None:
            self.phase, self.embedding_since = "embedding", time.monotonic()
        self.done, self.total = done, total

    def rate(self) -> float | None:
        """Pieces embedded per second so far."""
        if self.embedding_since is None or not self.done:
            return None
        return self.done / max(time.monotonic() - self.embedding_since, 1e-6)

    def summary(self) -> dict:
        rate = self.rate()
        left = (self.total - self.done) / rate if rate and self.total is not None else None
        return {"phase": self.phase, "done": self.done, "total": self.total,
                "pieces_per_s": round(rate, 1) if rate else None,
                "elapsed_s": round(time.monotonic() - self.started, 1),
                "eta_s": round(left) if left is not None else None}


class KnowledgeBase:
    def __init__(self, settings, facts: Facts, embedder, indexer: Indexer, clock: Clock):
        self.settings = settings
        self.embedder = embedder
        self.indexer = indexer
        self.clock = clock
        self._first_facts = facts
        self._live: Live | None = None
        # Set by create_app to Runtime.status_changed: progress reaches systemd's STATUS= line.
        self.announce: Callable[[], None] = lambda: None
        self._announced = 0.0
        self._build: Build | None = None
        self._queue = threading.Lock()     # guards the three below, never held during a build
        self._wanted = False
        self._reload_facts = False
        self._builder: threading.Thread | None = None
        self._stopping = threading.Event()
        self.builds = 0                    # builds finished since start, failed ones included
        self.last_build_s: float | None = None
        self.last_error: str | None = None

    # -- building -------------------------------------------------------------

    def warm_up(self) -> None:
        self.embedder.load()
        self._live = Live(self._first_facts, self.indexer.starting_index(self._first_facts.documents))
        atexit.register(self._stop_building)
        self.rebuild(reload_facts=False)

    def rebuild(self, reload_facts: bool = True) -> None:
        """Read the facts and the folder again and build a new index in the background;
        returns at once. Requests keep using the current index meanwhile."""
        if self._live is None:
            # SIGHUP during the warm-up: the build that ends it reads the folder then.
            log.info("reload requested while warming up; the first index build will include the changes")
            return
        with self._queue:
            self._wanted = True
            self._reload_facts = self._reload_facts or reload_facts
            if self._builder is None:
                self._builder = threading.Thread(target=self._build_while_wanted, name="index-build",
                                                 daemon=True)
                self._builder.start()

    def _stop_building(self) -> None:
        """At exit: end a running build at its next batch. Left running, the thread would be cut
        inside torch when the interpreter ends, and that aborts the process (SIGABRT, not exit 0)."""
        self._stopping.set()
        builder = self._builder
        if builder is not None:
            builder.join(STOP_WAIT_S)

    def _build_while_wanted(self) -> None:
        while True:
            with self._queue:
                if not self._wanted or self._stopping.is_set():
                    self._builder = None
                    return
                reload_facts = self._reload_facts
                self._wanted = self._reload_facts = False
            self._build_once(reload_facts)

    def _build_once(self, reload_facts: bool) -> None:
        build = self._build = Build()
        self._announce(force=True)
        current = self._live
        try:
            facts = load_facts(self.settings.facts_file) if reload_facts else current.facts
            scan = scan_folder(self.settings.docs_dir, self.settings.max_doc_bytes)
            if self.settings.docs_dir is not None and not scan.documents:
                log.warning("the documents folder %s has no usable .md or .txt file", self.settings.docs_dir)

            def progressed(done: int, total: int) -> None:
                if self._stopping.is_set():
                    raise Stopping
                build.progressed(done, total)
                self._announce(force=done == 0)

            index = self.indexer.build(facts.documents + scan.documents, scan.skipped, current.index,
                                       progress=progressed)
        except Stopping:
            log.info("index build stopped at %d of %s pieces: the service is stopping", build.done, build.total)
        except Exception as error:  # the current index keeps serving; /health says why
            self.last_error = " ".join(str(error).split()) or type(error).__name__
            log.error("index build failed, still serving the previous index: %s", self.last_error)
        else:
            self._live = Live(facts, index)  # the swap: one assignment
            self.last_error = None
            self.last_build_s = time.monotonic() - build.started
        finally:
            self.builds += 1
            self._build = None
            self._announce(force=True)

    def _announce(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._announced >= ANNOUNCE_EVERY_S:
            self._announced = now
            self.announce()

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
        """ok once the folder is indexed; degraded (with progress, or why the last build
        failed) while requests are answered from the facts and the saved index."""
        live, build = self._live, self._build
        index = live.index if live is not None else None
        status = "indexing" if build is not None or index is None else "failed" if self.last_error else "ok"
        details = {
            "status": status,
            "model": self.embedder.label,
            "model_path": str(self.embedder.directory),
            "device": self.embedder.device,
            "precision": self.embedder.precision,
            "pieces": len(index) if index is not None else 0,
            "documents": len(index.documents_of(DOCUMENTS)) if index is not None else 0,
            "skipped_files": len(index.skipped) if index is not None else 0,
            "reindexing": build is not None or self._wanted,
            "progress": build.summary() if build is not None else None,
            "builds": self.builds,
            "last_build_s": round(self.last_build_s, 3) if self.last_build_s is not None else None,
            "last_error": self.last_error,
        }
        return status == "ok", details

    def status_line(self) -> str:
        live, build = self._live, self._build
        if live is None:
            return "loading the model"
        index = live.index
        serving = (f"serving {len(index)} pieces from {len(index.documents_of(DOCUMENTS))} documents "
                   f"({len(index.skipped)} skipped); model {self.embedder.label}")
        if build is not None:
            if build.total is None:
                return f"indexing: {build.phase}; {serving}"
            rate = build.rate()
            speed = f", {rate:.1f} pieces/s" if rate else ""
            return f"indexing: {build.done}/{build.total} pieces embedded{speed}; {serving}"
        if self.last_error:
            return f"{serving}; the last index build failed: {self.last_error}"
        return serving

    @staticmethod
    def _pieces(index: Index, context_id: str) -> int:
        entry = index.documents.get(f"facts/{context_id}")
        return entry.end - entry.start if entry else 0
