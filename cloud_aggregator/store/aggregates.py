"""Reads of the stored windows that the Store class (``base.py``, the ingest and fleet interface) does not hold."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import db

if TYPE_CHECKING:
    from .base import Store


def stored_before(store: Store, instant: str) -> bool:
    """Whether any aggregate was stored before ``instant`` (the broker's last start): then the aggregator
    had retained acks on the broker before it restarted, and ``cloud-aggregator check`` can tell whether they
    survived."""
    return bool(db.query(store, "SELECT 1 AS x FROM aggregates WHERE stored_at < ? LIMIT 1", (instant,)))
