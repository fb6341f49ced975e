"""Who a warning can reach, from the imported OneRoster data: teachers, assigned staff, guardians, enrolments.

The routing rules (which roles, which step) live in ``warnings.routing``; these reads only say who holds
a role for a section or a student, and which sections a student is enrolled in, so a roster change is
read the same way by routing, escalation and the risk model's term positions. Sourced ids and
pseudonyms only; names and contacts stay encrypted until a message is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import db

if TYPE_CHECKING:
    from .base import Store


@dataclass(frozen=True)
class StudentEnrolment:
    student: str  # pseudonym
    section: str
    begin: str | None  # the enrolment's own dates, when the roster gives them
    end: str | None
    terms: str | None  # the section's comma-separated term (academic session) ids; None: section unknown


def section_teachers(store: Store, section: str) -> list[str]:
    """Sorted sourced ids of the teachers enrolled in ``section`` or timetabled for it."""
    rows = db.query(store, "SELECT DISTINCT u.sourced_id AS s FROM enrollments e JOIN users u ON u.pseudonym = "
                           "e.user_pseudonym WHERE e.section_sourced_id = ? AND e.role = ?", (section, "teacher"))
    rows += db.query(store, "SELECT DISTINCT teacher_sourced_id AS s FROM timetable_slots WHERE section_sourced_id = ? "
                            "AND teacher_sourced_id <> ''", (section,))
    return sorted({r["s"] for r in rows if r["s"]})


def assigned_staff(store: Store, students: Sequence[str], roles: Sequence[str]) -> list[str]:
    """Sorted sourced ids of the staff ``advisor_assignments`` gives any of ``students`` under any of ``roles``."""
    if not students:
        return []
    rows = db.query(store, "SELECT DISTINCT staff_sourced_id AS s FROM advisor_assignments WHERE "  # noqa: S608
                           f"student_pseudonym IN {db.in_list(students)} AND role IN {db.in_list(roles)}",
                    [*students, *roles])
    return sorted(r["s"] for r in rows)


def guardians(store: Store, student: str) -> list[str]:
    """Sorted sourced ids of the enabled parents/guardians among the student's ``agentSourcedIds``."""
    rows = db.query(store, "SELECT agent_sourced_ids AS a FROM users WHERE pseudonym = ?", (student,))
    agents = [a.strip() for r in rows for a in (r["a"] or "").split(",") if a.strip()]
    if not agents:
        return []
    rows = db.query(store, f"SELECT sourced_id FROM users WHERE sourced_id IN {db.in_list(agents)} "  # noqa: S608
                           "AND role IN ('parent', 'guardian') AND enabled = 1", agents)
    return sorted(r["sourced_id"] for r in rows)


def section_students(store: Store, section: str) -> list[str]:
    """Pseudonyms of every student ever enrolled in ``section`` (whose advisors a class warning reaches)."""
    rows = db.query(store, "SELECT DISTINCT user_pseudonym AS p FROM enrollments WHERE section_sourced_id = ? AND "
                           "role = ?", (section, "student"))
    return [r["p"] for r in rows]


def student_enrolments(store: Store) -> list[StudentEnrolment]:
    """Every student enrolment with its dates and its section's terms: who was enrolled where on which day."""
    return [StudentEnrolment(r["p"], r["s"], r["b"], r["e"], r["t"]) for r in db.query(
        store, "SELECT e.user_pseudonym AS p, e.section_sourced_id AS s, e.begin_date AS b, e.end_date AS e, "
               "c.term_sourced_ids AS t FROM enrollments e LEFT JOIN sections c ON c.sourced_id = "
               "e.section_sourced_id WHERE e.role = ?", ("student",))]


def section_terms(store: Store) -> dict[str, str]:
    """Each section's comma-separated term (academic session) ids ('' when it names none)."""
    rows = db.query(store, "SELECT sourced_id, term_sourced_ids FROM sections")
    return {r["sourced_id"]: r["term_sourced_ids"] or "" for r in rows}


def encrypted_contact(store: Store, sourced_id: str) -> str | None:
    """The user's encrypted contact record (holds the e-mail address), None when the roster gave none."""
    rows = db.query(store, "SELECT contact_enc FROM users WHERE sourced_id = ?", (sourced_id,))
    return (rows[0]["contact_enc"] or None) if rows else None


def encrypted_name(store: Store, pseudonym: str) -> str | None:
    """The user's encrypted name record, None when the roster gave none."""
    rows = db.query(store, "SELECT name_enc FROM users WHERE pseudonym = ?", (pseudonym,))
    return (rows[0]["name_enc"] or None) if rows else None
