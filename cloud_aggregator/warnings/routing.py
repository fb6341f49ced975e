"""Who gets a warning: routing rules (type, level → roles), escalation chains, recipients from the records.

Recipients come from the imported OneRoster data: the course teacher is the teacher enrolled in
(or timetabled for) the section the warning is about; class advisor and counsellor come from
``advisor_assignments`` (role ``advisor`` / ``counselor``); parents/guardians are the student's
``agentSourcedIds`` with role parent/guardian, and only when ``allow_parents`` is on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from cloud_aggregator.config.warnings import STUDENT_TYPES, WarningsConfig
from cloud_aggregator.store import db

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


def _section_teachers(store: Any, section: str | None) -> list[str]:  # noqa: ANN401
    if not section:
        return []
    rows = db.query(store, "SELECT DISTINCT u.sourced_id AS s FROM enrollments e JOIN users u ON u.pseudonym = "
                           "e.user_pseudonym WHERE e.section_sourced_id = ? AND e.role = ?", (section, "teacher"))
    rows += db.query(store, "SELECT DISTINCT teacher_sourced_id AS s FROM timetable_slots WHERE section_sourced_id = ? "
                            "AND teacher_sourced_id <> ''", (section,))
    return sorted({r["s"] for r in rows if r["s"]})


def _assigned(store: Any, students: list[str], role: str) -> list[str]:  # noqa: ANN401
    if not students:
        return []
    names = ASSIGNMENT_ROLES[role]
    rows = db.query(store, "SELECT DISTINCT staff_sourced_id AS s FROM advisor_assignments WHERE "  # noqa: S608
                           f"student_pseudonym IN {db.in_list(students)} AND role IN {db.in_list(names)}",
                    [*students, *names])
    return sorted(r["s"] for r in rows)


def _parents(store: Any, student: str) -> list[str]:  # noqa: ANN401
    rows = db.query(store, "SELECT agent_sourced_ids AS a FROM users WHERE pseudonym = ?", (student,))
    agents = [a.strip() for r in rows for a in (r["a"] or "").split(",") if a.strip()]
    if not agents:
        return []
    rows = db.query(store, f"SELECT sourced_id FROM users WHERE sourced_id IN {db.in_list(agents)} "  # noqa: S608
                           "AND role IN ('parent', 'guardian') AND enabled = 1", agents)
    return sorted(r["sourced_id"] for r in rows)


def _section_students(store: Any, section: str) -> list[str]:  # noqa: ANN401
    rows = db.query(store, "SELECT DISTINCT user_pseudonym AS p FROM enrollments WHERE section_sourced_id = ? AND "
                           "role = ?", (section, "student"))
    return [r["p"] for r in rows]


def resolve(store: Any, cfg: WarningsConfig, role: str, scope: str, subject: str,  # noqa: ANN401
            section: str | None) -> list[Recipient]:
    """Recipients of ``role`` for a warning about ``subject`` (a student pseudonym, or a section)."""
    if role == "teacher":
        ids = _section_teachers(store, section)
    elif role == "parent":
        ids = _parents(store, subject) if cfg.allow_parents and scope == "student" else []
    elif scope == "student":
        ids = _assigned(store, [subject], role)
    else:  # the advisors/counsellors of the section's students
        ids = _assigned(store, _section_students(store, subject), role)
    return [Recipient(role, i) for i in ids]


def current_sections(store: Any, day: str) -> tuple[dict[str, list[str]], set[str]]:  # noqa: ANN401
    """({student: sections they are enrolled in on ``day``}, every student with any enrolment).

    Enrolled on a day = the enrolment's begin/end dates (when given) and its section's term (when known)
    include it: a student who withdrew or whose course ended is not a current student (OULAD keeps every
    presentation; a school's roster keeps last year's classes)."""
    terms = {r["sourced_id"]: (r["start_date"], r["end_date"])
             for r in db.query(store, "SELECT sourced_id, start_date, end_date FROM academic_sessions")}

    def in_term(ids: str | None) -> bool:
        spans = [terms[t.strip()] for t in (ids or "").split(",") if t.strip() in terms]
        return not spans or any((not a or a[:10] <= day) and (not b or day <= b[:10]) for a, b in spans)

    cur: dict[str, list[str]] = {}
    anyone: set[str] = set()
    for r in db.query(store, "SELECT e.user_pseudonym AS p, e.section_sourced_id AS s, e.begin_date AS b, "
                             "e.end_date AS e, c.term_sourced_ids AS t FROM enrollments e LEFT JOIN sections c ON "
                             "c.sourced_id = e.section_sourced_id WHERE e.role = ?", ("student",)):
        anyone.add(r["p"])
        if (not r["b"] or r["b"][:10] <= day) and (not r["e"] or day <= r["e"][:10]) and in_term(r["t"]):
            cur.setdefault(r["p"], []).append(r["s"])
    return {p: sorted(ss) for p, ss in cur.items()}, anyone


def term_days(store: Any, day: str) -> dict[str, int]:  # noqa: ANN401
    """Days into the term on ``day`` per student enrolled then in a section whose term (academic session) has a
    start date: since the latest such start. Students with no known term are left out."""
    current, _ = current_sections(store, day)
    starts = {r["sourced_id"]: r["start_date"][:10] for r in db.query(
        store, "SELECT sourced_id, start_date FROM academic_sessions") if r["start_date"]}
    terms = {r["sourced_id"]: r["term_sourced_ids"] or "" for r in db.query(
        store, "SELECT sourced_id, term_sourced_ids FROM sections")}
    out = {}
    for p, secs in current.items():
        ts = {t.strip() for s in secs for t in terms.get(s, "").split(",")} & set(starts)
        ss = [starts[t] for t in ts if starts[t] <= day]
        if ss:
            out[p] = (date.fromisoformat(day) - date.fromisoformat(max(ss))).days
    return out


def focus_sections(store: Any, wtype: str, students: list[str], since: str, as_of: str) -> dict[str, str]:  # noqa: ANN401
    """The section each student's warning of ``wtype`` is mostly about (its teacher is 'the course teacher')."""
    if not students:
        return {}
    inl = db.in_list(students)
    if wtype == "attendance":
        sql = ("SELECT student_pseudonym AS p, section_sourced_id AS s, COUNT(*) AS v FROM attendance WHERE "  # noqa: S608
               f"student_pseudonym IN {inl} AND status IN ('absent', 'tardy') AND date >= ? AND date <= ? "
               "GROUP BY student_pseudonym, section_sourced_id")
        params, worst = [*students, since, as_of], max
    elif wtype == "submissions":
        sql = ("SELECT student_pseudonym AS p, section_sourced_id AS s, COUNT(*) AS v FROM submissions WHERE "  # noqa: S608
               f"student_pseudonym IN {inl} AND status IN ('missing', 'late') AND due_at >= ? AND due_at <= ? "
               "GROUP BY student_pseudonym, section_sourced_id")
        params, worst = [*students, since, as_of + "T23:59:59Z"], max
    elif wtype == "academic":
        sql = ("SELECT r.student_pseudonym AS p, l.section_sourced_id AS s, AVG(100.0 * r.score / CASE WHEN "  # noqa: S608
               "l.result_value_max > 0 THEN l.result_value_max ELSE 100 END) AS v FROM results r JOIN line_items l ON "
               f"l.sourced_id = r.line_item_sourced_id WHERE r.student_pseudonym IN {inl} AND r.score IS NOT NULL AND "
               "r.score_date >= ? AND r.score_date <= ? GROUP BY r.student_pseudonym, l.section_sourced_id")
        params, worst = [*students, since, as_of], min
    else:  # lms: the class whose online activity the student used most before
        sql = ("SELECT student_pseudonym AS p, section_sourced_id AS s, SUM(minutes) AS v FROM lms_activity WHERE "  # noqa: S608
               f"student_pseudonym IN {inl} AND section_sourced_id <> '' AND date <= ? "
               "GROUP BY student_pseudonym, section_sourced_id")
        params, worst = [*students, as_of], max
    per: dict[str, list[tuple[float, str]]] = {}
    for r in db.query(store, sql, params):
        if r["s"] is not None and r["v"] is not None:
            per.setdefault(r["p"], []).append((float(r["v"]) * (-1 if worst is max else 1), r["s"]))
    return {p: min(vals)[1] for p, vals in per.items()}  # worst value first, then the smallest section id
