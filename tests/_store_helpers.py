"""Stores on both backends against real servers: SQLite in a tmp dir, PostgreSQL in a throwaway database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cloud_aggregator.config.store import StoreConfig
from cloud_aggregator.store import Store, open_store

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except Exception:  # noqa: BLE001
        return False


@contextmanager
def store_for(backend: str, tmp: Path) -> Iterator[Store]:
    if backend == "sqlite":
        s = open_store(StoreConfig(path=tmp / "store.db"))
        try:
            yield s
        finally:
            s.close()
        return
    import psycopg

    if not pg_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    name = f"classpulse_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    s = open_store(StoreConfig(backend="postgres", dsn=f"postgresql://postgres@127.0.0.1:5432/{name}"))
    try:
        yield s
    finally:
        s.close()
        with psycopg.connect(PG_ADMIN, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
