"""Saved conversations, in the service's storage (kit/storage: SQLite or PostgreSQL).

Durable once save() returns: the one transaction holding the save and all of
its entries is committed before the HTTP 200 is sent (SQLite: WAL with
synchronous=FULL; PostgreSQL: a synchronous commit), so a kill -9 or a power
loss loses nothing acknowledged. When the storage cannot write, save() raises
StorageUnavailable (a 503 storage_unavailable) and nothing is stored.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

from capibara6.kit.errors import BadRequest
from capibara6.kit.storage import Database, Schema

SCHEMA = Schema("chat.conversations", migrations=(
    # 1: the tables as SQLite files made before the storage layer already have them
    ("CREATE TABLE IF NOT EXISTS saves ("
     "id TEXT PRIMARY KEY, created_at TEXT NOT NULL, email TEXT)",
     "CREATE TABLE IF NOT EXISTS messages ("
     "save_id TEXT NOT NULL REFERENCES saves(id), position INTEGER NOT NULL, "
     "message TEXT NOT NULL, response TEXT NOT NULL, extra TEXT NOT NULL DEFAULT '{}', "
     "PRIMARY KEY (save_id, position))"),
))
SQLITE_FILE = "conversations.sqlite3"
MAX_ENTRIES = 1000


class ConversationStore:
    def __init__(self, database: Database):
        self.database = database

    def save(self, body: dict) -> dict:
        entries = parse_entries(body)
        email = body.get("email")
        if email is not None and not isinstance(email, str):
            raise BadRequest("'email' must be a string", code="invalid_field", field="email")
        save_id = uuid.uuid4().hex
        with self.database.transaction() as tx:  # one transaction: all entries or none
            tx.run("INSERT INTO saves (id, created_at, email) VALUES (?, ?, ?)",
                   (save_id, datetime.now(timezone.utc).isoformat(), email))
            tx.run_many(
                "INSERT INTO messages (save_id, position, message, response, extra) "
                "VALUES (?, ?, ?, ?, ?)",
                [(save_id, i, e["message"], e["response"], json.dumps(e["extra"], ensure_ascii=False))
                 for i, e in enumerate(entries)])
        return {"success": True, "id": save_id, "saved": len(entries)}

    def load(self, save_id: str) -> list[dict]:
        with self.database.transaction(write=False) as tx:
            rows = tx.all("SELECT message, response FROM messages WHERE save_id = ? ORDER BY position",
                          (save_id,))
        return [{"message": m, "response": r} for m, r in rows]

    def count(self) -> int:
        with self.database.transaction(write=False) as tx:
            return tx.one("SELECT COUNT(*) FROM messages")[0]


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
