"""Helpers for the records tests: small demo schools, keys, throwaway PostgreSQL databases."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cloud_aggregator.records.demo_school import DemoSpec, write_demo_school
from cloud_aggregator.records.keys import RecordsKeys

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SMALL = {"students": 40, "weeks": 3}


def keys() -> RecordsKeys:
    return RecordsKeys(b"k" * 32)


def fixed_key_file(path: Path) -> Path:
    """A records key file holding :func:`keys`' key: pseudonyms (and so seeded splits) repeat run after run."""
    import base64

    path.write_text(base64.urlsafe_b64encode(b"k" * 32).decode() + "\n")
    return path


def small_demo(out: Path, seed: int = 3, **kw) -> Path:
    return write_demo_school(out, DemoSpec(seed=seed, **{**SMALL, **kw}))


def csv_rows(path: Path) -> int:
    with path.open(encoding="utf-8") as fh:
        return sum(1 for _ in csv.reader(fh)) - 1


def append_lines(path: Path, lines: list[str]) -> None:
    with path.open("a", encoding="utf-8", newline="") as fh:
        for line in lines:
            fh.write(line + "\n")


@contextmanager
def pg_database() -> Iterator[str]:
    """Create a uniquely named database, yield its DSN, drop it afterwards."""
    import psycopg

    name = f"records_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except Exception:
        return False
