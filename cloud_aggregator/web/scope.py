"""Who may see what: a teacher's sections, an advisor's or counsellor's students.

Teachers see only the sections they teach (timetable or OneRoster teacher enrolment);
class advisors and counsellors see only the students assigned to them (``advisor_assignments``);
IT sees devices; the school admin sees aggregates. The API checks every request against these
sets and answers 403 outside them, never an empty list that could be mistaken for "no data".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cloud_aggregator.store.scopes import assigned_students, teacher_sections
from cloud_aggregator.store.sections import section_ids

from .auth import User

if TYPE_CHECKING:
    from cloud_aggregator.store import Store

STUDENT_ROLES = ("advisor", "counsellor")


def visible_sections(store: Store, user: User) -> set[str]:
    """Sections whose class-level engagement the user may see."""
    if user.role == "teacher":
        return teacher_sections(store, user.staff_sourced_id)
    if user.role == "admin":
        return set(section_ids(store))
    return set()


def visible_students(store: Store, user: User) -> set[str]:
    if user.role in STUDENT_ROLES:
        return assigned_students(store, user.staff_sourced_id)
    return set()
