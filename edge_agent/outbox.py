"""SQLite outbox: every aggregate is committed here before it is published.

WAL + synchronous=FULL: a classroom box loses power without warning, and an aggregate arrives only once per
30-60 s window, so paying one fsync per commit costs nothing measurable while NORMAL could lose the last
committed windows on power loss (WAL mode with NORMAL is only durable up to the last checkpoint/sync).
Rows are deleted only after the broker's PUBACK. The table is bounded: when full, the OLDEST row is dropped
(fresh data is worth more to teachers than week-old data) and the drop is counted in ``meta`` for health.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class OutboxRow:
    id: int
    topic: str
    payload: bytes


class Outbox:
    """Thread-safe, ordered, bounded, crash-safe queue of (topic, payload)."""

    def __init__(self, path: str | Path, max_messages: int = 100_000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_messages = max_messages
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " topic TEXT NOT NULL, payload BLOB NOT NULL, created REAL NOT NULL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('dropped', 0)")

    def put(self, topic: str, payload: bytes) -> int:
        """Commit one message (durable when this returns); drop the oldest rows if over the bound."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cur = self._db.execute(
                    "INSERT INTO outbox (topic, payload, created) VALUES (?, ?, ?)", (topic, payload, time.time())
                )
                (depth,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
                excess = depth - self.max_messages
                if excess > 0:
                    self._db.execute(
                        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)", (excess,)
                    )
                    self._db.execute("UPDATE meta SET value = value + ? WHERE key='dropped'", (excess,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return int(cur.lastrowid or 0)

    def peek(self) -> OutboxRow | None:
        """Oldest undelivered message, or None."""
        with self._lock:
            row = self._db.execute("SELECT id, topic, payload FROM outbox ORDER BY id LIMIT 1").fetchone()
        return OutboxRow(row[0], row[1], bytes(row[2])) if row else None

    def delete(self, row_id: int) -> None:
        """Forget a message; call only once the broker acknowledged it (PUBACK)."""
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))

    def depth(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def dropped(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT value FROM meta WHERE key='dropped'").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
