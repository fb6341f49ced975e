"""Reads of the audit log (``audit_log``): who viewed or acted on which student's warnings, newest first.

``web.audit`` writes one row per student an action touched and groups them for the admin's overview.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import db

if TYPE_CHECKING:
    from .base import Store


def audit_rows(store: Store, limit: int, student: str | None = None) -> list[dict[str, Any]]:
    """The latest ``limit`` rows, of one student when ``student`` is given."""
    if student is not None:
        return db.query(store, "SELECT * FROM audit_log WHERE student_pseudonym = ? ORDER BY ts DESC LIMIT ?",
                        (student, limit))
    return db.query(store, "SELECT * FROM audit_log ORDER BY ts DESC LIMIT ?", (limit,))
