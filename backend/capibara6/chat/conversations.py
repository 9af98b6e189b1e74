"""Saved conversations in SQLite, under the service's state directory.

Durable once save() returns: the transaction is committed with
synchronous=FULL in WAL mode, so the row survives a kill -9 (and a power
loss) from the moment the HTTP 200 is sent.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import datetime, timezone
from pathlib import Path

from capibara6.kit.errors import BadRequest

SCHEMA = """
CREATE TABLE IF NOT EXISTS saves (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    email TEXT
);
CREATE TABLE IF NOT EXISTS messages (
    save_id TEXT NOT NULL REFERENCES saves(id),
    position INTEGER NOT NULL,
    message TEXT NOT NULL,
    response TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (save_id, position)
);
"""
MAX_ENTRIES = 1000


class ConversationStore:
    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "conversations.sqlite3"
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10)
        db.execute("PRAGMA synchronous=FULL")
        return db

    def save(self, body: dict) -> dict:
        entries = parse_entries(body)
        email = body.get("email")
        if email is not None and not isinstance(email, str):
            raise BadRequest("'email' must be a string", code="invalid_field", field="email")
        save_id = uuid.uuid4().hex
        db = self._connect()
        try:
            with db:  # one transaction: all entries or none
                db.execute("INSERT INTO saves VALUES (?, ?, ?)",
                           (save_id, datetime.now(timezone.utc).isoformat(), email))
                db.executemany(
                    "INSERT INTO messages VALUES (?, ?, ?, ?, ?)",
                    [(save_id, i, e["message"], e["response"], json.dumps(e["extra"], ensure_ascii=False))
                     for i, e in enumerate(entries)])
        finally:
            db.close()
        return {"success": True, "id": save_id, "saved": len(entries)}

    def load(self, save_id: str) -> list[dict]:
        db = self._connect()
        try:
            rows = db.execute("SELECT message, response FROM messages WHERE save_id=? ORDER BY position",
                              (save_id,)).fetchall()
        finally:
            db.close()
        return [{"message": m, "response": r} for m, r in rows]

    def count(self) -> int:
        db = self._connect()
        try:
            return db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        finally:
            db.close()


def parse_entries(body: dict) -> list[dict]:
    if "conversations" in body:
        items = body["conversations"]
        if not isinstance(items, list) or not items:
            raise BadRequest("'conversations' must be a non-empty list", code="invalid_field",
                             field="conversations")
        if len(items) > MAX_ENTRIES:
            raise BadRequest(f"'conversations' has more than {MAX_ENTRIES} entries",
                             code="invalid_field", field="conversations")
    elif "message" in body or "response" in body:
        items = [body]
    else:
        raise BadRequest("send {message, response} or {conversations: [...]}", code="missing_field")
    entries = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadRequest(f"conversation {index} must be an object", code="invalid_field")
        message = item.get("message", item.get("user", ""))
        response = item.get("response", item.get("assistant", ""))
        if not isinstance(message, str) or not isinstance(response, str) or not (message or response):
            raise BadRequest(f"conversation {index} needs a string 'message' and 'response'",
                             code="invalid_field")
        extra = {k: v for k, v in item.items() if k not in ("message", "response", "user", "assistant")
                 and k != "email"}
        entries.append({"message": message, "response": response, "extra": extra})
    return entries
