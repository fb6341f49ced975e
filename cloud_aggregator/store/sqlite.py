"""SQLite backend through sqlite-utils: WAL journal, one shared connection, ``synchronous=NORMAL``.

WAL + NORMAL survives a killed process (a commit is in the WAL before ``commit`` returns); only a
power cut can lose the last commits, which the broker then redelivers because they were never acked.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from cloud_aggregator.records.db import RecordsDB

from .base import Store


class SQLiteStore(Store):
    backend = "sqlite"


def open_sqlite(path: str | Path) -> SQLiteStore:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # shared by the ingest writer and the web threads, serialised by Store.lock
    sdb = sqlite_utils.Database(sqlite3.connect(str(path), check_same_thread=False, timeout=10))
    sdb.enable_wal()
    sdb.conn.execute("PRAGMA synchronous=NORMAL")
    sdb.conn.execute("PRAGMA busy_timeout=10000")
    return SQLiteStore(RecordsDB(sdb.conn, "sqlite", owns=True))
