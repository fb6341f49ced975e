"""Who may see what: a teacher's sections, an advisor's or counsellor's students.

Teachers see only the sections they teach (timetable or OneRoster teacher enrolment);
class advisors and counsellors see only the students assigned to them (``advisor_assignments``);
IT sees devices; the school admin sees aggregates. The API checks every request against these
sets and answers 403 outside them, never an empty list that could be mistaken for "no data".
"""

from __future__ import annotations

from typing import Any

from cloud_aggregator.store import db
from cloud_aggregator.store.analysable import analysable

from .auth import User

STUDENT_ROLES = ("advisor", "counsellor")


def teacher_sections(store: Any, staff_sourced_id: str | None) -> set[str]:  # noqa: ANN401
    if not staff_sourced_id:
        return set()
    rows = db.query(store, "SELECT DISTINCT section_sourced_id AS s FROM timetable_slots WHERE teacher_sourced_id = ?",
                    (staff_sourced_id,))
    rows += db.query(store, "SELECT DISTINCT e.section_sourced_id AS s FROM enrollments e JOIN users u "
                            "ON u.pseudonym = e.user_pseudonym WHERE u.sourced_id = ? AND e.role = ?",
                     (staff_sourced_id, "teacher"))
    return {r["s"] for r in rows if r["s"]}


def assigned_students(store: Any, staff_sourced_id: str | None) -> set[str]:  # noqa: ANN401
    """Pseudonyms assigned to an advisor/counsellor, minus opted-out or disabled students."""
    if not staff_sourced_id:
        return set()
    rows = db.query(store, "SELECT student_pseudonym AS p FROM advisor_assignments WHERE staff_sourced_id = ? AND "  # noqa: S608
                           f"{analysable('student_pseudonym')}", (staff_sourced_id,))
    return {r["p"] for r in rows}


def all_sections(store: Any) -> set[str]:  # noqa: ANN401
    return {r["sourced_id"] for r in db.query(store, "SELECT sourced_id FROM sections")}


def visible_sections(store: Any, user: User) -> set[str]:  # noqa: ANN401
    """Sections whose class-level engagement the user may see."""
    if user.role == "teacher":
        return teacher_sections(store, user.staff_sourced_id)
    if user.role == "admin":
        return all_sections(store)
    return set()


def visible_students(store: Any, user: User) -> set[str]:  # noqa: ANN401
    if user.role in STUDENT_ROLES:
        return assigned_students(store, user.staff_sourced_id)
    return set()
