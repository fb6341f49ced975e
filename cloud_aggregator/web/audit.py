"""The audit log as people read it: one entry per action, not one row per student it touched.

A list view stores a row per student shown (so "who looked at this student?" stays one query); the
admin overview groups rows of the same user, action, detail and second into one entry with the
number of students, and never shows the pseudonyms themselves.
"""

from __future__ import annotations

from typing import Any


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
