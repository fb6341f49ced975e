"""Teachers' verdicts on the teaching assistant's suggestions (``assistant_feedback``), kept to tune its rules.

A dismissed or used suggestion quiets its rule for the rest of the cool-down in that lesson; the counts
per rule and verdict show an admin which rules teachers find useful.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import db
from .web_tables import ASSISTANT_FEEDBACK

if TYPE_CHECKING:
    from .base import Store


def add_feedback(store: Store, row: dict[str, Any]) -> None:
    """Store one verdict (id, ts, username, section_id, session_id, rule_id, verdict, value, usual)."""
    db.insert(store, ASSISTANT_FEEDBACK, [row])


def rules_answered_since(store: Store, session_id: str, since: str) -> set[str]:
    """Rules the teacher answered in this lesson since ``since``: the assistant keeps them quiet."""
    rows = db.query(store, "SELECT rule_id FROM assistant_feedback WHERE session_id = ? AND ts >= ?",
                    (session_id, since))
    return {r["rule_id"] for r in rows}


def feedback_counts(store: Store) -> list[dict[str, Any]]:
    """{rule_id, verdict, n} per rule and verdict, in that order."""
    return db.query(store, "SELECT rule_id, verdict, COUNT(*) AS n FROM assistant_feedback "
                           "GROUP BY rule_id, verdict ORDER BY rule_id, verdict")
