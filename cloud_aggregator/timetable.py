"""Which course-section session an aggregate window belongs to: (site, room, window) → section session.

Timetable slots (``timetable_slots``, imported by the records layer from timetable.csv) hold local
wall-clock periods per weekday; each site's time zone comes from the ``sites`` table (devices.yaml).
A window belongs to the slot that contains its midpoint, on that weekday, within the slot's term
(``academic_sessions`` dates) when the term is known. Pure lookup in :func:`find_session`; the
:class:`SessionResolver` caches the tables and re-reads them every ``refresh_s``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from classpulse_contract import Aggregate

if TYPE_CHECKING:
    from cloud_aggregator.store import Store


@dataclass(frozen=True)
class SectionSession:
    section_id: str
    date: str  # local date, YYYY-MM-DD
    period: str
    start_local: str
    end_local: str
    teacher_id: str | None
    course_code: str | None

    @property
    def session_id(self) -> str:
        """Stable key of one meeting of a section: ``<section>:<date>:<period>``."""
        return f"{self.section_id}:{self.date}:{self.period}"


def parse_session_id(session_id: str) -> tuple[str, str, str]:
    section, date, period = session_id.rsplit(":", 2)
    return section, date, period


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def find_session(slots: list[dict[str, Any]], tz: str, terms: dict[str, tuple[str, str]], site: str, room: str,
                 window_start: datetime, window_end: datetime) -> SectionSession | None:
    """The slot of ``site``/``room`` holding the window's midpoint in local time, or None (not a class)."""
    mid = (window_start + (window_end - window_start) / 2).astimezone(_zone(tz))
    date, hhmm, weekday = mid.date().isoformat(), mid.strftime("%H:%M"), mid.isoweekday()
    for s in slots:
        if s["site"] != site or s["room"] != room or int(s["weekday"]) != weekday:
            continue
        if not (s["start_time"] <= hhmm < s["end_time"]):
            continue
        term = terms.get(s.get("term_sourced_id") or "")
        if term and term[0] and term[1] and not (term[0] <= date <= term[1]):
            continue
        return SectionSession(s["section_sourced_id"], date, s["period"], s["start_time"], s["end_time"],
                              s.get("teacher_sourced_id") or None, s.get("course_code") or None)
    return None


class SessionResolver:
    """Aggregate → (section_id, session_id) for ingest; tables re-read every ``refresh_s``."""

    def __init__(self, store: Store, refresh_s: float = 60.0):
        self.store = store
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._loaded = 0.0
        self._slots: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._tz: dict[str, str] = {}
        self._terms: dict[str, tuple[str, str]] = {}

    def reload(self) -> None:
        slots: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for s in self.store.timetable_slots():
            slots.setdefault((s["site"], s["room"]), []).append(s)
        tz = {r["site"]: r["timezone"] or "UTC" for r in self.store.sites()}
        terms = self.store.term_dates()
        with self._lock:
            self._slots, self._tz, self._terms, self._loaded = slots, tz, terms, time.monotonic()

    def session(self, site: str, room: str, start: datetime, end: datetime) -> SectionSession | None:
        if time.monotonic() - self._loaded > self.refresh_s:
            self.reload()
        with self._lock:
            slots, tz, terms = self._slots.get((site, room), []), self._tz.get(site, "UTC"), self._terms
        return find_session(slots, tz, terms, site, room, start, end)

    def __call__(self, a: Aggregate) -> tuple[str | None, str | None]:
        s = self.session(a.site, a.room, a.window_start, a.window_end)
        return (s.section_id, s.session_id) if s else (None, None)
