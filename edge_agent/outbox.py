"""SQLite outbox: every aggregate is committed here before it may be published.

WAL with ``synchronous=FULL``: one fsync per aggregate (about one a minute) costs
nothing measurable, and unlike NORMAL it keeps the last committed aggregate
through a power cut, which is the promise the outbox exists to keep. Rows leave
oldest first and are deleted once delivery is confirmed: by the aggregator's
end-to-end ack (``confirm``, by msg_id) or, with an aggregator that never acks,
by the broker's PUBACK (see ``edge_agent.delivery``). When the outbox is full the
oldest rows are dropped, and the drops are counted in health.
Only contract-validated aggregate JSON is ever written here.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class OutboxRow:
    id: int
    topic: str
    payload: bytes
    retain: bool
    msg_id: int | None = None


class Outbox:
    def __init__(self, path: Path | str, max_messages: int = 100_000):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_messages = max_messages
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, "
            "payload BLOB NOT NULL, retain INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0))"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS outbox_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        if "msg_id" not in {r[1] for r in self._db.execute("PRAGMA table_info(outbox)")}:
            # outboxes written before end-to-end acks: the msg_id is in the validated payload
            self._db.execute("ALTER TABLE outbox ADD COLUMN msg_id INTEGER")
            self._db.execute("UPDATE outbox SET msg_id = json_extract(CAST(payload AS TEXT), '$.msg_id') "
                             "WHERE topic LIKE '%/agg' AND json_valid(CAST(payload AS TEXT))")
        self._db.execute("CREATE INDEX IF NOT EXISTS ix_outbox_msg_id ON outbox (msg_id)")

    def put(self, topic: str, payload: bytes, retain: bool = False, msg_id: int | None = None) -> int:
        """Commit one message; returns its id. Drops (and counts) the oldest rows beyond the bound."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cur = self._db.execute("INSERT INTO outbox (topic, payload, retain, msg_id) VALUES (?, ?, ?, ?)",
                                       (topic, payload, int(retain), msg_id))
                rid = int(cur.lastrowid or 0)
                excess = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] - self.max_messages
                if excess > 0:
                    self._db.execute("DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)",
                                     (excess,))
                    self._db.execute(
                        "INSERT INTO outbox_meta (key, value) VALUES ('dropped', ?) "
                        "ON CONFLICT(key) DO UPDATE SET value = value + excluded.value", (excess,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return rid

    def oldest(self, limit: int = 1, after: int = 0) -> list[OutboxRow]:
        """The oldest rows with an id above ``after``."""
        with self._lock:
            rows = self._db.execute("SELECT id, topic, payload, retain, msg_id FROM outbox WHERE id > ? "
                                    "ORDER BY id LIMIT ?", (after, limit)).fetchall()
        return [OutboxRow(int(r[0]), r[1], bytes(r[2]), bool(r[3]), r[4]) for r in rows]

    def get(self, row_id: int) -> OutboxRow | None:
        rows = self.oldest(1, row_id - 1)
        return rows[0] if rows and rows[0].id == row_id else None

    def confirm(self, msg_ids: list[int]) -> list[int]:
        """Delete the rows of aggregates the aggregator confirmed; returns the row ids deleted."""
        if not msg_ids:
            return []
        with self._lock:
            marks = ", ".join("?" for _ in msg_ids)
            ids = [int(r[0]) for r in self._db.execute(
                f"DELETE FROM outbox WHERE msg_id IN ({marks}) RETURNING id", msg_ids).fetchall()]  # noqa: S608
        return ids

    def oldest_age_s(self) -> float | None:
        """Seconds since the oldest row still here was committed (None: empty)."""
        with self._lock:
            r = self._db.execute("SELECT (julianday('now') - 2440587.5) * 86400.0 - MIN(created) FROM outbox"
                                 ).fetchone()
        return None if r is None or r[0] is None else max(0.0, round(float(r[0]), 1))

    def get_meta(self, key: str) -> int | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM outbox_meta WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else None

    def set_meta(self, key: str, value: int) -> None:
        with self._lock:
            self._db.execute("INSERT INTO outbox_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE "
                             "SET value = excluded.value", (key, value))

    def delete(self, row_id: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))

    def depth(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def dropped(self) -> int:
        return self.get_meta("dropped") or 0

    def close(self) -> None:
        with self._lock:
            self._db.close()
