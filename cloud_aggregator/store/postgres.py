"""PostgreSQL backend (psycopg 3) for a district: several aggregator processes may share one database.

The same SQL as SQLite; the ``(device, msg_id)`` primary key and the unique ``(device, window_start)`` make concurrent writers from a shared
MQTT subscription safe without coordination.
"""

from __future__ import annotations

from typing import Any

from .base import AGG_COLUMNS, Store
from .engine import RecordsDB
from .migrations import AGGREGATES

_PG_TYPES = {"TEXT": "text", "INTEGER": "bigint", "REAL": "float8"}


class PostgresStore(Store):
    backend = "postgres"
    dsn: str | None = None

    def reconnect(self) -> None:
        """A fresh connection after the database went away (ingest calls this before retrying a batch)."""
        if self.dsn is None:
            return
        with self.lock:
            try:
                self.db.close()
            except Exception:  # noqa: BLE001, S110 - the old connection is already broken
                pass
            self.db = RecordsDB(_connect(self.dsn), "postgres", owns=True)

    def _insert_rows(self, rows: list[tuple[Any, ...]]) -> set[tuple[str, int]]:
        """One statement per batch: 17 array parameters unnested server-side (far fewer binds than VALUES)."""
        if not rows:
            return set()
        types = [_PG_TYPES[t] for _, t in AGGREGATES.columns] + ["text", "text"]
        cols = list(zip(*rows, strict=True))
        sql = (f"INSERT INTO aggregates ({', '.join(AGG_COLUMNS)}) SELECT * FROM unnest("  # noqa: S608 - fixed names
               + ", ".join(f"%b::{t}[]" for t in types)
               + ") ON CONFLICT DO NOTHING RETURNING device, msg_id")
        with self.db.conn.cursor() as cur:
            cur.execute(sql, [list(c) for c in cols])
            return {(d, int(m)) for d, m in cur.fetchall()}


def _connect(dsn: str) -> Any:  # noqa: ANN401 - psycopg.Connection
    import psycopg

    return psycopg.connect(dsn, connect_timeout=10, application_name="classpulse-aggregator")


def open_postgres(dsn: str) -> PostgresStore:
    store = PostgresStore(RecordsDB(_connect(dsn), "postgres", owns=True))
    store.dsn = dsn
    return store
