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


def latest_sections_per_room(store: Store) -> dict[tuple[str, str], str | None]:
    """(site, room) → the section of the room's latest stored window (None when the timetable mapped none)."""
    rows = db.query(store, "SELECT a.site, a.room, a.section_id FROM aggregates a JOIN (SELECT site, room, "
                           "MAX(window_start) AS ws FROM aggregates GROUP BY site, room) m ON a.site = m.site AND "
                           "a.room = m.room AND a.window_start = m.ws")
    return {(r["site"], r["room"]): r["section_id"] for r in rows}
