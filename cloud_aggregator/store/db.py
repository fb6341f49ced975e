"""SQL access for the layers above the Store (web, warnings): its one connection, under its lock, on either engine.

The Store interface covers ingest and fleet queries; the dashboard's and the warnings' own tables and
their read-only views over the records tables go through these helpers so they share the Store's lock
and its PostgreSQL commit discipline (no connection left idle in a transaction). It lives in store/ so
that warnings/ need not import web/.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .engine import RecordsDB
from .records_tables import Table
from .web_tables import WEB_TABLES

if TYPE_CHECKING:
    from .base import Store


def ensure_web_tables(store: Store) -> None:
    with store.lock:
        store.db.ensure_schema(WEB_TABLES)


def query(store: Store, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:  # noqa: ANN401
    with store.lock:
        db: RecordsDB = store.db
        try:
            rows = db.query(sql, params)
        finally:
            if db.dialect == "postgres":
                db.commit()
        return rows


@contextmanager
def transaction(store: Store) -> Iterator[RecordsDB]:
    """The Store's engine under its lock for several statements: committed together, or rolled back on error."""
    with store.lock:
        db: RecordsDB = store.db
        try:
            yield db
            db.commit()
        except BaseException:
            db.rollback()
            raise


def write(store: Store, sql: str, params: Sequence[Any] = ()) -> int:  # noqa: ANN401
    """One statement in its own transaction; returns rows changed."""
    with transaction(store) as db:
        return db.execute(sql, params)


def insert(store: Store, table: Table, rows: Sequence[dict[str, Any]]) -> None:  # noqa: ANN401
    with transaction(store) as db:
        db.upsert_many(table, rows)


def new_id() -> str:
    return uuid.uuid4().hex


def chunks(values: Sequence[Any], n: int = 400) -> list[list[Any]]:
    """``values`` in slices of ``n``, so an IN list stays below both engines' parameter limits."""
    return [list(values[i:i + n]) for i in range(0, len(values), n)]


def in_list(values: Sequence[Any]) -> str:
    """``(?, ?, …)`` for an IN clause; an empty list matches nothing."""
    return "(" + ", ".join("?" for _ in values) + ")" if values else "(NULL)"


def database_file(store: Store) -> str | None:
    """The SQLite main database's file (files that belong with the data go next to it); None on PostgreSQL or
    for an in-memory database."""
    if store.db.dialect != "sqlite":
        return None
    rows = query(store, "PRAGMA database_list")
    return next((r["file"] for r in rows if r["name"] == "main" and r["file"]), None)
