"""The audit log: written one row per student an action touched, read as one entry per action.

A list view stores a row per student shown (so "who looked at this student?" stays one query); the
admin overview groups rows of the same user, action, detail and second into one entry with the
number of students, and never shows the pseudonyms themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cloud_aggregator.store import db, now_iso
from cloud_aggregator.store.web_tables import AUDIT_LOG

if TYPE_CHECKING:
    from cloud_aggregator.store.base import Store


def record(store: Store, username: str, role: str, action: str, pseudonyms: list[str], detail: str = "") -> None:
    """One row per student ``action`` touched (one row without a student when it touched none), one timestamp."""
    ts = now_iso()
    students: list[str | None] = [*pseudonyms] or [None]
    db.insert(store, AUDIT_LOG, [{"id": db.new_id(), "ts": ts, "username": username, "role": role, "action": action,
                                  "student_pseudonym": p, "detail": detail} for p in students])


def audit_events(rows: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """``rows`` newest first (``audit_log``) → at most ``limit`` entries {ts, username, role, action, detail, students}."""
    out: list[dict[str, Any]] = []
    index: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for r in rows:
        key = (str(r["ts"])[:19], r["username"], r["action"], r.get("detail") or "")
        ev = index.get(key)
        if ev is None:
            if len(out) >= limit:
                continue
            ev = {"ts": r["ts"], "username": r["username"], "role": r.get("role"), "action": r["action"],
                  "detail": r.get("detail") or "", "students": 0}
            index[key] = ev
            out.append(ev)
        if r.get("student_pseudonym"):
            ev["students"] += 1
    return out
