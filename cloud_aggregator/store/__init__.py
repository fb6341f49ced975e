"""Aggregator storage: one narrow interface (``Store``), SQLite by default, PostgreSQL for a district."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import DeadLetter, Enrolment, Store, TokenError, iso, iso_ts, now_iso
from .migrations import LATEST as SCHEMA_VERSION

if TYPE_CHECKING:
    from cloud_aggregator.config.store import StoreConfig


def open_store(cfg: StoreConfig) -> Store:
    """Open (and migrate) the store a ``StoreConfig`` describes."""
    if cfg.backend == "postgres":
        from .postgres import open_postgres

        assert cfg.dsn is not None  # StoreConfig refuses backend postgres without a dsn
        return open_postgres(cfg.dsn)
    from .sqlite import open_sqlite

    return open_sqlite(cfg.path)


__all__ = ["SCHEMA_VERSION", "DeadLetter", "Enrolment", "Store", "TokenError", "iso", "iso_ts", "now_iso", "open_store"]
