"""What the knowledge base is made of: the facts file and the documents folder.

Every source is a Document with a content hash; the index re-embeds a
document only when its hash changes. A file that cannot be used (binary,
unreadable, too large, empty, not text) is skipped with a logged reason and
listed under the documents context, never a crash.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from capibara6.kit.settings import ConfigError

log = logging.getLogger("capibara6.mcp.sources")

DOCUMENTS = "documents"
DATE_DOCUMENT = "current_date"   # the key of the date phrasings' document
DOCUMENT_SUFFIXES = (".md", ".markdown", ".txt")
_CONTROL = bytes(range(32)).replace(b"\t", b"").replace(b"\n", b"").replace(b"\r", b"").replace(b"\f", b"")


@dataclass(frozen=True)
class Context:
    id: str
    name: str
    description: str


@dataclass(frozen=True)
class Document:
    key: str                    # unique in the index: "docs/<path>", "facts/<context>", "current_date"
    context: str                # the context id the document belongs to
    name: str                   # what a person reads as the source: a path or a context's name
    sha256: str
    text: str = ""              # a file's text (chunked when indexed)
    items: tuple[str, ...] = () # or ready-made pieces: one fact, or one date phrasing, each


@dataclass
class Facts:
    contexts: list[Context]
    documents: list[Document]
    date_context: Context


@dataclass
class Scan:
    documents: list[Document] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)   # [{path, reason}]


def load_facts(path: Path) -> Facts:
    """The facts file as contexts and documents. Raises ConfigError naming what is wrong."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ConfigError(f"CAPIBARA6_MCP_FACTS_FILE: cannot read {path}: {_one_line(error)}") from None
    if not isinstance(data, dict) or not isinstance(data.get("contexts"), list):
        raise ConfigError(f"CAPIBARA6_MCP_FACTS_FILE: {path} needs a 'contexts' list")
    contexts, documents = [], []
    for entry in data["contexts"]:
        context = _context(path, entry)
        facts = entry.get("facts")
        if not isinstance(facts, list) or not facts or not all(isinstance(f, str) and f.strip() for f in facts):
            raise ConfigError(f"CAPIBARA6_MCP_FACTS_FILE: context {context.id!r} needs a non-empty 'facts' list of strings")
        contexts.append(context)
        documents.append(_items_document(f"facts/{context.id}", context, facts))
    date_entry = data.get("current_date")
    date_context = _context(path, date_entry)
    phrasings = date_entry.get("phrasings")
    if not isinstance(phrasings, list) or not phrasings or not all(isinstance(p, str) for p in phrasings):
        raise ConfigError("CAPIBARA6_MCP_FACTS_FILE: 'current_date' needs a non-empty 'phrasings' list")
    documents.append(_items_document(DATE_DOCUMENT, date_context, phrasings))
    ids = [c.id for c in contexts] + [date_context.id, DOCUMENTS]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"CAPIBARA6_MCP_FACTS_FILE: context ids must be unique (and not {DOCUMENTS!r}): {ids}")
    return Facts(contexts, documents, date_context)


def scan_folder(folder: Path | None, max_bytes: int) -> Scan:
    """Every .md/.txt file under folder (hidden ones aside), read and hashed."""
    scan = Scan()
    if folder is None:
        return scan
    if not folder.is_dir():
        raise FileNotFoundError(f"the documents folder {folder} does not exist")
    for directory, subdirectories, files in os.walk(folder, onerror=_log_walk_error):
        subdirectories[:] = sorted(d for d in subdirectories if not d.startswith("."))
        for file_name in sorted(files):
            if file_name.startswith(".") or not file_name.lower().endswith(DOCUMENT_SUFFIXES):
                continue
            path = Path(directory, file_name)
            relative = path.relative_to(folder).as_posix()
            text, reason = _read_text(path, max_bytes)
            if reason:
                log.warning("skipped document %s: %s", relative, reason)
                scan.skipped.append({"path": relative, "reason": reason})
                continue
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
            scan.documents.append(Document(f"docs/{relative}", DOCUMENTS, relative, digest, text=text))
    return scan


def _read_text(path: Path, max_bytes: int) -> tuple[str, str | None]:
    """(text, None) or ("", why it was skipped)."""
    try:
        if not path.is_file():
            return "", "not a regular file" if path.exists() else "unreadable: a broken link"
        size = path.stat().st_size
        if size > max_bytes:
            return "", f"larger than {max_bytes} bytes ({size})"
        data = path.read_bytes()
    except OSError as error:
        return "", f"unreadable: {error.strerror or error}"
    sample = data[:8192]
    if b"\x00" in sample or (sample and sum(sample.count(bytes([c])) for c in _CONTROL) > len(sample) // 10):
        return "", "binary, not text"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:  # Spanish documents saved on Windows are often in this encoding
            text = data.decode("cp1252")
            log.warning("document %s is not UTF-8; read it as Windows-1252", path.name)
        except UnicodeDecodeError:
            return "", "not UTF-8 (nor Windows-1252) text"
    if not text.strip():
        return "", "empty"
    return text, None


def _context(path: Path, entry) -> Context:
    if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) and entry[k].strip()
                                              for k in ("id", "name", "description")):
        raise ConfigError(f"CAPIBARA6_MCP_FACTS_FILE: in {path}, each context needs id, name and description")
    return Context(entry["id"].strip(), entry["name"].strip(), entry["description"].strip())


def _items_document(key: str, context: Context, items: list[str]) -> Document:
    items = tuple(item.strip() for item in items if item.strip())
    digest = hashlib.sha256(json.dumps([context.name, items], ensure_ascii=False).encode()).hexdigest()
    return Document(key, context.id, context.name, digest, items=items)


def _log_walk_error(error: OSError) -> None:
    log.warning("skipped part of the documents folder: %s", error)


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())
