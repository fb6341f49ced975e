"""Who gets a warning: routing rules (type, level → roles), escalation chains, recipients from the records.

Recipients come from the imported OneRoster data: the course teacher is the teacher enrolled in
(or timetabled for) the section the warning is about; class advisor and counsellor come from
``advisor_assignments`` (role ``advisor`` / ``counselor``); parents/guardians are the student's
``agentSourcedIds`` with role parent/guardian, and only when ``allow_parents`` is on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from cloud_aggregator.config.warnings import STUDENT_TYPES, WarningsConfig
from cloud_aggregator.store import routing as people
from cloud_aggregator.store import routing_focus as focus

if TYPE_CHECKING:
    from cloud_aggregator.store import Store

ASSIGNMENT_ROLES = {"advisor": ("advisor",), "counsellor": ("counselor", "counsellor")}


@dataclass(frozen=True)
class Recipient:
    role: str
    id: str  # the staff member's (or parent's) sourced id


def chain_for(cfg: WarningsConfig, wtype: str) -> list[str]:
    return list(cfg.escalation.student_chain if wtype in STUDENT_TYPES else cfg.escalation.class_chain)


def initial_roles(cfg: WarningsConfig, wtype: str, level: int) -> list[str]:
    """Roles the routing rules give (type, level), in escalation-chain order, then any others."""
    roles: list[str] = []
    for rule in cfg.routing:
        if level >= rule.min_level and (not rule.types or wtype in rule.types):
            roles += [r for r in rule.roles if r not in roles]
    if wtype not in STUDENT_TYPES:
        roles = [r for r in roles if r != "parent"]
    chain = chain_for(cfg, wtype)
    return sorted(roles, key=lambda r: chain.index(r) if r in chain else len(chain))


def step_of(cfg: WarningsConfig, wtype: str, roles: list[str]) -> int:
    """Position in the escalation chain reached by these roles (-1: none of them is in the chain)."""
    chain = chain_for(cfg, wtype)
    return max((chain.index(r) for r in roles if r in chain), default=-1)


def next_role(cfg: WarningsConfig, wtype: str, step: int) -> str | None:
    chain = chain_for(cfg, wtype)
    return chain[step + 1] if step + 1 < len(chain) else None


def resolve(store: Store, cfg: WarningsConfig, role: str, scope: str, subject: str,
            section: str | None) -> list[Recipient]:
    """Recipients of ``role`` for a warning about ``subject`` (a student pseudonym, or a section)."""
    if role == "teacher":
        ids = people.section_teachers(store, section) if section else []
    elif role == "parent":
        ids = people.guardians(store, subject) if cfg.allow_parents and scope == "student" else []
    elif scope == "student":
        ids = people.assigned_staff(store, [subject], ASSIGNMENT_ROLES[role])
    else:  # the advisors/counsellors of the section's students
        ids = people.assigned_staff(store, people.section_students(store, subject), ASSIGNMENT_ROLES[role])
    return [Recipient(role, i) for i in ids]


def current_sections(store: Store, day: str) -> tuple[dict[str, list[str]], set[str]]:
    """({student: sections they are enrolled in on ``day``}, every student with any enrolment).

    Enrolled on a day = the enrolment's begin/end dates (when given) and its section's term (when known)
    include it: a student who withdrew or whose course ended is not a current student (OULAD keeps every
    presentation; a school's roster keeps last year's classes)."""
    terms = store.term_dates()

    def in_term(ids: str | None) -> bool:
        spans = [terms[t.strip()] for t in (ids or "").split(",") if t.strip() in terms]
        return not spans or any((not a or a[:10] <= day) and (not b or day <= b[:10]) for a, b in spans)

    cur: dict[str, list[str]] = {}
    anyone: set[str] = set()
    for e in people.student_enrolments(store):
        anyone.add(e.student)
        if (not e.begin or e.begin[:10] <= day) and (not e.end or day <= e.end[:10]) and in_term(e.terms):
            cur.setdefault(e.student, []).append(e.section)
    return {p: sorted(ss) for p, ss in cur.items()}, anyone


def term_days(store: Store, day: str) -> dict[str, int]:
    """Days into the term on ``day`` per student enrolled then in a section whose term (academic session) has a
    start date: since the latest such start. Students with no known term are left out."""
    current, _ = current_sections(store, day)
    starts = {t: start[:10] for t, (start, _end) in store.term_dates().items() if start}
    terms = people.section_terms(store)
    out = {}
    for p, secs in current.items():
        ts = {t.strip() for s in secs for t in terms.get(s, "").split(",")} & set(starts)
        ss = [starts[t] for t in ts if starts[t] <= day]
        if ss:
            out[p] = (date.fromisoformat(day) - date.fromisoformat(max(ss))).days
    return out


def focus_sections(store: Store, wtype: str, students: list[str], since: str, as_of: str) -> dict[str, str]:
    """The section each student's warning of ``wtype`` is mostly about (its teacher is 'the course teacher')."""
    if wtype == "attendance":
        rows, worst = focus.absences_by_section(store, students, since, as_of), max
    elif wtype == "submissions":
        rows, worst = focus.missing_or_late_by_section(store, students, since, as_of), max
    elif wtype == "academic":
        rows, worst = focus.mean_score_by_section(store, students, since, as_of), min
    else:  # lms: the class whose online activity the student used most before
        rows, worst = focus.lms_minutes_by_section(store, students, as_of), max
    per: dict[str, list[tuple[float, str]]] = {}
    for p, sec, v in rows:
        if sec is not None and v is not None:
            per.setdefault(p, []).append((v * (-1 if worst is max else 1), sec))
    return {p: min(vals)[1] for p, vals in per.items()}  # worst value first, then the smallest section id
