"""Which sections a teacher teaches and which students an advisor or counsellor is assigned to.

``web.scope`` turns these into what a user may see and answers 403 outside them. Assigned students pass
:func:`analysable` here, so an opted-out or disabled student never enters anyone's scope.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import db
from .analysable import analysable

if TYPE_CHECKING:
    from .base import Store


def teacher_sections(store: Store, staff_sourced_id: str | None) -> set[str]:
    """Sections this staff member teaches, by the timetable or by a OneRoster teacher enrolment."""
    if not staff_sourced_id:
        return set()
    rows = db.query(store, "SELECT DISTINCT section_sourced_id AS s FROM timetable_slots WHERE teacher_sourced_id = ?",
                    (staff_sourced_id,))
    rows += db.query(store, "SELECT DISTINCT e.section_sourced_id AS s FROM enrollments e JOIN users u "
                            "ON u.pseudonym = e.user_pseudonym WHERE u.sourced_id = ? AND e.role = ?",
                     (staff_sourced_id, "teacher"))
    return {r["s"] for r in rows if r["s"]}


def assigned_students(store: Store, staff_sourced_id: str | None) -> set[str]:
    """Pseudonyms assigned to an advisor/counsellor, minus opted-out or disabled students."""
    if not staff_sourced_id:
        return set()
    rows = db.query(store, "SELECT student_pseudonym AS p FROM advisor_assignments WHERE staff_sourced_id = ? AND "  # noqa: S608
                           f"{analysable('student_pseudonym')}", (staff_sourced_id,))
    return {r["p"] for r in rows}


def enrolled_students(store: Store, sections: Sequence[str] | None = None) -> set[str]:
    """Analysable students enrolled in any of ``sections`` (None: in any section), whose warnings a report counts."""
    cond = f"role = ? AND {analysable('user_pseudonym')}"
    if sections is None:
        return {r["p"] for r in db.query(
            store, f"SELECT DISTINCT user_pseudonym AS p FROM enrollments WHERE {cond}", ("student",))}  # noqa: S608
    out: set[str] = set()
    for chunk in db.chunks(sections):
        out |= {r["p"] for r in db.query(store, "SELECT DISTINCT user_pseudonym AS p FROM enrollments WHERE "  # noqa: S608
                                                f"section_sourced_id IN {db.in_list(chunk)} AND {cond}",
                                         [*chunk, "student"])}
    return out
