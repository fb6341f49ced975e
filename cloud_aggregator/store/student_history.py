"""What a student's profile reads of the records: their sections, dated attendance, submissions, scores,
LMS minutes, their grade, and the class-level engagement of their sections.

Rows come back as stored for a date range; ``web.students`` buckets them into weeks. Only academic records
and section-level aggregates: nothing here measures one student in class. The caller has already checked
that the user may see this student (``store.scopes``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import db

if TYPE_CHECKING:
    from .base import Store


def student_sections(store: Store, pseudonym: str) -> list[str]:
    """Sorted ids of the sections the student is enrolled in as a student."""
    rows = db.query(store, "SELECT DISTINCT section_sourced_id AS s FROM enrollments WHERE user_pseudonym = ? "
                           "AND role = ?", (pseudonym, "student"))
    return sorted(r["s"] for r in rows)


def class_engagement(store: Store, sections: Sequence[str], since: str) -> float | None:
    """Section-level mean engagement of these classes since ``since`` (context, not the student)."""
    if not sections:
        return None
    rows = db.query(store, f"SELECT AVG(engagement) AS e FROM aggregates WHERE section_id IN {db.in_list(sections)} "  # noqa: S608
                           "AND window_start >= ? AND engagement IS NOT NULL", [*sections, since])
    return float(rows[0]["e"]) if rows and rows[0]["e"] is not None else None


def attendance(store: Store, pseudonym: str, after: str, until: str) -> list[dict[str, Any]]:
    """``date`` and ``status`` of each attendance record in (after, until]."""
    return db.query(store, "SELECT date, status FROM attendance WHERE student_pseudonym = ? AND date > ? AND "
                           "date <= ?", (pseudonym, after, until))


def submissions(store: Store, pseudonym: str, after: str, until: str) -> list[dict[str, Any]]:
    """``due_at`` and ``status`` of each submission due in (after, until] (ISO instants)."""
    return db.query(store, "SELECT due_at, status FROM submissions WHERE student_pseudonym = ? AND due_at > ? AND "
                           "due_at <= ?", (pseudonym, after, until))


def score_percents(store: Store, pseudonym: str, after: str, until: str) -> list[dict[str, Any]]:
    """``d`` (score date) and ``s`` (score as % of its line item's maximum, 100 when none) of each scored result
    in (after, until]."""
    return db.query(store, "SELECT r.score_date AS d, 100.0 * r.score / CASE WHEN l.result_value_max > 0 THEN "
                           "l.result_value_max ELSE 100 END AS s FROM results r JOIN line_items l ON l.sourced_id = "
                           "r.line_item_sourced_id WHERE r.student_pseudonym = ? AND r.score IS NOT NULL AND "
                           "r.score_date > ? AND r.score_date <= ?", (pseudonym, after, until))


def lms_minutes(store: Store, pseudonym: str, after: str, until: str) -> list[dict[str, Any]]:
    """``date`` and ``minutes`` of each day of LMS activity in (after, until]."""
    return db.query(store, "SELECT date, minutes FROM lms_activity WHERE student_pseudonym = ? AND date > ? AND "
                           "date <= ?", (pseudonym, after, until))

