"""The response cache: model answers keyed on everything that shaped the request.

The key is a SHA-256 over the canonical JSON of the endpoint's identity (provider, base URL,
model id), the request (messages, every sampling parameter, tools, response schema, extra body,
non-secret headers), the sample index and the purpose of the call (`generate`, or a judge's
purpose and key). API keys never enter it: providers keep them out of both parts.

Only successful answers are cached. The cache lives in SQLite under `.evalspec/cache/` and is
shared by every run of the project, so a rerun of an unchanged plan sends no request at all.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .plan import canonical_json
from .response import ModelResponse
from .store import WriteBehind

CACHE_FILE = "responses.sqlite"


def cache_material(identity: Mapping[str, Any], request: Mapping[str, Any], *, sample: int,
                   purpose: str, key: str) -> str:
    """The canonical text the cache key hashes (also what the store keeps as the request)."""
    return canonical_json({"endpoint": identity, "request": request, "sample": sample,
                           "purpose": purpose, "key": key})


def cache_key(material: str) -> str:
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


class ResponseCache:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / CACHE_FILE
        # Autocommit: every put is its own transaction, so a killed run keeps what it paid for.
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, "
                         "response TEXT NOT NULL, created REAL NOT NULL) WITHOUT ROWID")
        # Answers not yet committed (at most one event-loop turn old): see WriteBehind.
        self._pending: dict[str, str] = {}
        self._writer = WriteBehind(self._db, on_flush=self._pending.clear)

    def get(self, key: str) -> ModelResponse | None:
        text = self._pending.get(key)
        if text is None:
            row = self._db.execute("SELECT response FROM responses WHERE key = ?",
                                   (key,)).fetchone()
            if row is None:
                return None
            text = row[0]
        data = json.loads(text)
        data["cached"] = True
        return ModelResponse.from_json(data)

    def put(self, key: str, response: ModelResponse, response_json: str | None = None) -> None:
        """`response_json`: the response's JSON when the caller has it already."""
        text = response_json or json.dumps(response.to_json(), ensure_ascii=False)
        self._pending[key] = text
        self._writer.add("INSERT OR REPLACE INTO responses VALUES (?, ?, ?)",
                         (key, text, time.time()))

    def flush(self) -> None:
        self._writer.flush()

    def __len__(self) -> int:
        self.flush()
        return self._db.execute("SELECT count(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        self.flush()
        self._db.close()
