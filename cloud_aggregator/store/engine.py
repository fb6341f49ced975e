"""The database engine under the Store and the records importers: one DB-API connection, SQLite or PostgreSQL.

Every table of the aggregator is declared as a ``Table`` and created through :meth:`RecordsDB.ensure_schema`.
SQL is written with ``?`` placeholders and translated for psycopg. Upserts use
``INSERT … ON CONFLICT (pk) DO UPDATE``, which both engines support.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .records_tables import ALL_TABLES, Table

_IDENT = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _ident(name: str) -> None:
    """Table names are never user input here; refuse anything that is not a plain identifier."""
    if not _IDENT.fullmatch(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")


_PG_TYPES = {"TEXT": "TEXT", "INTEGER": "BIGINT", "REAL": "DOUBLE PRECISION"}


class RecordsDB:
    """Wraps one connection; ``dialect`` is 'sqlite' or 'postgres'."""

    def __init__(self, conn: Any, dialect: str, owns: bool = False):
        self.conn = conn
        self.dialect = dialect
        self._owns = owns

    # -------------------------------------------------------------- opening
    @classmethod
    def open(cls, target: Any) -> RecordsDB:
        """Accept a RecordsDB, a path, a ``postgresql://`` DSN, sqlite3/psycopg connections,
        a sqlite_utils.Database, or a Store-like object exposing ``.conn``/``.db``."""
        if isinstance(target, RecordsDB):
            return target
        if isinstance(target, (str, Path)):
            s = str(target)
            if s.startswith(("postgresql://", "postgres://")) or (s.startswith("host=") or " dbname=" in s):
                import psycopg

                return cls(psycopg.connect(s), "postgres", owns=True)
            conn = sqlite3.connect(s)
            conn.execute("PRAGMA journal_mode=WAL")
            return cls(conn, "sqlite", owns=True)
        if isinstance(target, sqlite3.Connection):
            return cls(target, "sqlite")
        mod = type(target).__module__
        if mod.startswith("psycopg"):
            return cls(target, "postgres")
        if mod.startswith("sqlite_utils"):
            return cls(target.conn, "sqlite")
        for attr in ("records_db", "conn", "db", "connection"):
            inner = getattr(target, attr, None)
            if inner is not None and inner is not target:
                if callable(inner) and attr == "records_db":
                    inner = inner()
                return cls.open(inner)
        raise TypeError(f"cannot use {type(target).__name__} as a records database")

    def close(self) -> None:
        if self._owns:
            self.conn.close()

    def __enter__(self) -> RecordsDB:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -------------------------------------------------------------- SQL helpers
    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgres" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        cur = self.conn.cursor()
        cur.execute(self._sql(sql), tuple(params))
        n = cur.rowcount
        cur.close()
        return n

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if not rows:
            return
        cur = self.conn.cursor()
        cur.executemany(self._sql(sql), rows)
        cur.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cur = self.conn.cursor()
        cur.execute(self._sql(sql), tuple(params))
        names = [d[0] for d in cur.description]
        out = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        cur.close()
        return out

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        self.conn.rollback()

    # -------------------------------------------------------------- schema
    def ddl(self, table: Table) -> list[str]:
        cols = ", ".join(
            f"{c} {_PG_TYPES[t] if self.dialect == 'postgres' else t}" for c, t in table.columns)
        stmts = [f"CREATE TABLE IF NOT EXISTS {table.name} ({cols}, PRIMARY KEY ({', '.join(table.pk)}))"]
        for idx in table.indexes:
            stmts.append(f"CREATE INDEX IF NOT EXISTS ix_{table.name}_{'_'.join(idx)} "
                         f"ON {table.name} ({', '.join(idx)})")
        return stmts

    def ensure_schema(self, tables: Sequence[Table] = ALL_TABLES) -> None:
        for t in tables:
            for stmt in self.ddl(t):
                self.execute(stmt)
        self.commit()

    def table_exists(self, name: str) -> bool:
        if self.dialect == "sqlite":
            return bool(self.query("SELECT name FROM sqlite_master WHERE type='table' AND name=?", (name,)))
        return bool(self.query("SELECT 1 FROM information_schema.tables WHERE table_name=?", (name,)))

    # -------------------------------------------------------------- rows
    def upsert_many(self, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        cols = table.column_names
        non_pk = [c for c in cols if c not in table.pk]
        sets = ", ".join(f"{c}=excluded.{c}" for c in non_pk)
        marks = ", ".join("?" for _ in cols)
        conflict = f"ON CONFLICT ({', '.join(table.pk)}) DO UPDATE SET {sets}"
        sql = f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({marks}) {conflict}"  # noqa: S608 - names from schema
        self.executemany(sql, [tuple(r.get(c) for c in cols) for r in rows])

    def delete_many(self, table: Table, keys: Sequence[tuple[Any, ...]]) -> None:
        where = " AND ".join(f"{c}=?" for c in table.pk)
        self.executemany(f"DELETE FROM {table.name} WHERE {where}", keys)  # noqa: S608 - names from schema

    def existing_hashes(self, table: Table) -> dict[tuple[Any, ...], str]:
        pk = ", ".join(table.pk)
        rows = self.query(f"SELECT {pk}, row_hash FROM {table.name}")  # noqa: S608 - names from schema
        return {tuple(r[c] for c in table.pk): r["row_hash"] for r in rows}

    def count(self, table: str) -> int:
        _ident(table)
        return int(self.query(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"])  # noqa: S608 - checked name
