"""How far each input of the warnings reaches: its latest day and the records' first and last day.

Freshness is judged above the store (stale, missing); here each source's latest date is read from its
own table, so a source older than its allowed age shows as stale instead of as low risk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import db

if TYPE_CHECKING:
    from .base import Store

#: source → SQL giving its latest date as ``d`` (the first 10 characters are the day)
_LATEST = {
    "attendance": "SELECT MAX(date) AS d FROM attendance",
    "submissions": "SELECT MAX(due_at) AS d FROM submissions",
    "results": "SELECT MAX(score_date) AS d FROM results WHERE score IS NOT NULL",
    "lms": "SELECT MAX(date) AS d FROM lms_activity",
    "aggregates": "SELECT MAX(window_start) AS d FROM aggregates WHERE section_id IS NOT NULL",
}
SOURCES: tuple[str, ...] = tuple(_LATEST)
#: sources the records' span is read from, in order: attendance, else LMS activity, else submission due dates
_SPANS = ("SELECT MIN(date) AS lo, MAX(date) AS hi FROM attendance",
          "SELECT MIN(date) AS lo, MAX(date) AS hi FROM lms_activity",
          "SELECT MIN(due_at) AS lo, MAX(due_at) AS hi FROM submissions")


def latest_day(store: Store, source: str) -> str | None:
    """The latest day (YYYY-MM-DD) ``source`` (one of :data:`SOURCES`) holds, or None when it holds nothing."""
    rows = db.query(store, _LATEST[source])
    d = rows[0]["d"] if rows else None
    return str(d)[:10] if d else None


def latest_days(store: Store) -> dict[str, str | None]:
    """Every source's latest day (None: no data at all), the input of the freshness check."""
    return {src: latest_day(store, src) for src in SOURCES}


def records_span(store: Store) -> tuple[str, str] | None:
    """First and last day of the records: attendance, else LMS activity, else submission due dates (OULAD has
    no attendance); None when none of them holds a row."""
    for sql in _SPANS:
        r = db.query(store, sql)[0]
        if r["lo"]:
            return str(r["lo"])[:10], str(r["hi"])[:10]
    return None
