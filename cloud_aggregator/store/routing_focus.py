"""Per (student, section) measures of one records source over a span: which class a warning is mostly about.

A student's warning goes to 'the course teacher' of the section its data points at; which measure and
which end of it counts as worst is decided in ``warnings.routing``. Each function returns
``(pseudonym, section, value)`` for the given students; a section or value may be None.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import db

if TYPE_CHECKING:
    from .base import Store

SectionValue = tuple[str, str | None, float | None]


def _rows(store: Store, sql: str, params: Sequence[object]) -> list[SectionValue]:
    return [(r["p"], r["s"], None if r["v"] is None else float(r["v"])) for r in db.query(store, sql, params)]


def _counts_by_section(store: Store, table: str, day: str, statuses: Sequence[str], students: Sequence[str],
                       since: str, until: str) -> list[SectionValue]:
    """Rows of ``table`` in one of ``statuses`` per student and section, ``day`` column in [since, until]."""
    if not students:
        return []
    return _rows(store, f"SELECT student_pseudonym AS p, section_sourced_id AS s, COUNT(*) AS v FROM {table} "  # noqa: S608
                        f"WHERE student_pseudonym IN {db.in_list(students)} AND status IN {db.in_list(statuses)} AND "
                        f"{day} >= ? AND {day} <= ? GROUP BY student_pseudonym, section_sourced_id",
                 [*students, *statuses, since, until])


def absences_by_section(store: Store, students: Sequence[str], since: str, until: str) -> list[SectionValue]:
    """Absent or tardy attendance rows per student and section, days ``since``..``until``."""
    return _counts_by_section(store, "attendance", "date", ("absent", "tardy"), students, since, until)


def missing_or_late_by_section(store: Store, students: Sequence[str], since: str, until: str) -> list[SectionValue]:
    """Missing or late submissions per student and section, due days ``since``..``until`` (its whole day)."""
    return _counts_by_section(store, "submissions", "due_at", ("missing", "late"), students, since,
                              until + "T23:59:59Z")


def mean_score_by_section(store: Store, students: Sequence[str], since: str, until: str) -> list[SectionValue]:
    """Mean result in percent of the line item's maximum (100 when none) per student and section."""
    if not students:
        return []
    return _rows(store, "SELECT r.student_pseudonym AS p, l.section_sourced_id AS s, AVG(100.0 * r.score / CASE WHEN "  # noqa: S608
                        "l.result_value_max > 0 THEN l.result_value_max ELSE 100 END) AS v FROM results r JOIN "
                        "line_items l ON l.sourced_id = r.line_item_sourced_id WHERE r.student_pseudonym IN "
                        f"{db.in_list(students)} AND r.score IS NOT NULL AND r.score_date >= ? AND r.score_date <= ? "
                        "GROUP BY r.student_pseudonym, l.section_sourced_id", [*students, since, until])


def lms_minutes_by_section(store: Store, students: Sequence[str], until: str) -> list[SectionValue]:
    """LMS minutes per student and (named) section, everything up to day ``until``."""
    if not students:
        return []
    return _rows(store, "SELECT student_pseudonym AS p, section_sourced_id AS s, SUM(minutes) AS v FROM lms_activity "  # noqa: S608
                        f"WHERE student_pseudonym IN {db.in_list(students)} AND section_sourced_id <> '' AND "
                        "date <= ? GROUP BY student_pseudonym, section_sourced_id", [*students, until])
