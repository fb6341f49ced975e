"""SQLite backend through sqlite-utils: WAL journal, one shared connection, ``synchronous=NORMAL``.

WAL + NORMAL survives a killed process (a commit is in the WAL before ``commit`` returns); only a
power cut can lose the last commits, which the broker then redelivers because they were never acked.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

import sqlite_utils

from .base import Store
from .engine import RecordsDB

log = logging.getLogger(__name__)


class SQLiteStore(Store):
    backend = "sqlite"


def _private(path: Path) -> None:
    """Data folder 0700 (when we create it), database file 0600 before SQLite opens it.

    SQLite gives its ``-wal`` and ``-shm`` files the main file's mode, so making the main file 0600 first
    keeps all three private; an existing file (an older install, a copy) is tightened too. A folder that
    already existed is the operator's (it may be shared): we only warn when others can enter it.
    """
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)  # mkdir's mode is masked by the umask
    elif path.parent.stat().st_mode & 0o077:
        log.warning("the database folder %s is open to other users; make it 0700", path.parent)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if p.exists() and p.stat().st_mode & 0o077:
            os.chmod(p, 0o600)


def open_sqlite(path: str | Path) -> SQLiteStore:
    path = Path(path)
    _private(path)
    # shared by the ingest writer and the web threads, serialised by Store.lock
    sdb = sqlite_utils.Database(sqlite3.connect(str(path), check_same_thread=False, timeout=10))
    sdb.enable_wal()
    sdb.conn.execute("PRAGMA synchronous=NORMAL")
    sdb.conn.execute("PRAGMA busy_timeout=10000")
    return SQLiteStore(RecordsDB(sdb.conn, "sqlite", owns=True))
