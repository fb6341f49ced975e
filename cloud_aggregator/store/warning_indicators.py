"""Per-student reads of the academic records that the rules' indicators and the risk model's features come from.

Each count or mean is split into *recent* (on or after ``recent_since``) and earlier, up to ``until``, so
one query per source gives both halves; rates, shares and trends are computed in ``warnings``. Only
academic records (attendance, submissions, results, LMS activity, grade level), never classroom sensing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import db

if TYPE_CHECKING:
    from .base import Store

#: (pseudonym, recent, status, rows)
StatusCount = tuple[str, bool, str, int]


def attendance_counts(store: Store, students: Sequence[str], recent_since: str, until: str) -> list[StatusCount]:
    """Attendance rows per student, recent or not, and status, days up to ``until``."""
    # "recent" flags are computed in a subquery: PostgreSQL cannot match a parameter in SELECT to one in GROUP BY
    rows = db.query(store, "SELECT p, rec, status, COUNT(*) AS n FROM (SELECT student_pseudonym AS p, CASE WHEN "  # noqa: S608
                           "date >= ? THEN 1 ELSE 0 END AS rec, status FROM attendance WHERE student_pseudonym IN "
                           f"{db.in_list(students)} AND date <= ?) t GROUP BY p, rec, status",
                    [recent_since, *students, until])
    return [(r["p"], bool(r["rec"]), r["status"], int(r["n"])) for r in rows]


def submission_counts(store: Store, students: Sequence[str], recent_since: str, until: str) -> list[StatusCount]:
    """Submissions per student, recent or not, and status, due up to the end of day ``until``."""
    rows = db.query(store, "SELECT p, rec, status, COUNT(*) AS n FROM (SELECT student_pseudonym AS p, CASE WHEN "  # noqa: S608
                           "due_at >= ? THEN 1 ELSE 0 END AS rec, status FROM submissions WHERE student_pseudonym "
                           f"IN {db.in_list(students)} AND due_at <= ?) t GROUP BY p, rec, status",
                    [recent_since, *students, until + "T23:59:59Z"])
    return [(r["p"], bool(r["rec"]), r["status"], int(r["n"])) for r in rows]


def mean_scores(store: Store, students: Sequence[str], recent_since: str, until: str
                ) -> list[tuple[str, bool, float | None]]:
    """(pseudonym, recent, mean result in percent of the line item's maximum, 100 when none), scored up to ``until``."""
    rows = db.query(store, "SELECT p, rec, AVG(pct) AS s FROM (SELECT r.student_pseudonym AS p, CASE WHEN "  # noqa: S608
                           "r.score_date >= ? THEN 1 ELSE 0 END AS rec, 100.0 * r.score / CASE WHEN "
                           "l.result_value_max > 0 THEN l.result_value_max ELSE 100 END AS pct FROM results r JOIN "
                           "line_items l ON l.sourced_id = r.line_item_sourced_id WHERE r.student_pseudonym IN "
                           f"{db.in_list(students)} AND r.score IS NOT NULL AND r.score_date <= ?) t GROUP BY p, rec",
                    [recent_since, *students, until])
    return [(r["p"], bool(r["rec"]), float(r["s"]) if r["s"] is not None else None) for r in rows]


def lms_minutes(store: Store, students: Sequence[str], recent_since: str, after: str, until: str
                ) -> list[tuple[str, bool, float]]:
    """(pseudonym, recent, LMS minutes) over the days after ``after`` up to ``until``."""
    rows = db.query(store, "SELECT p, rec, SUM(minutes) AS m FROM (SELECT student_pseudonym AS p, CASE WHEN "  # noqa: S608
                           "date >= ? THEN 1 ELSE 0 END AS rec, minutes FROM lms_activity WHERE student_pseudonym "
                           f"IN {db.in_list(students)} AND date > ? AND date <= ?) t GROUP BY p, rec",
                    [recent_since, *students, after, until])
    return [(r["p"], bool(r["rec"]), float(r["m"] or 0.0)) for r in rows]


def cohort_lms_minutes(store: Store, after: str, until: str) -> list[float]:
    """Each student's LMS minutes over the days after ``after`` up to ``until`` (the cohort's yardstick)."""
    rows = db.query(store, "SELECT student_pseudonym AS p, SUM(minutes) AS m FROM lms_activity WHERE date > ? AND "
                           "date <= ? GROUP BY student_pseudonym", (after, until))
    return [float(r["m"] or 0) for r in rows]


def grade_levels(store: Store, students: Sequence[str]) -> dict[str, str | None]:
    """Each student's OneRoster ``grades`` text (comma-separated; the first is their grade level)."""
    rows = db.query(store, f"SELECT pseudonym, grades FROM users WHERE pseudonym IN {db.in_list(students)}",  # noqa: S608
                    students)
    return {r["pseudonym"]: r["grades"] for r in rows}
