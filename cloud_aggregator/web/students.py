"""Per-student indicators from the academic records, the counsellor's warnings, and the student profile.

Only academic records feed these (attendance, submissions, results, LMS activity), never
classroom sensing: the profile's "class engagement" axis is the *section-level* mean of the
student's classes, shown as context, not a measurement of the student. Until the warnings
engine (``cloud_aggregator/warnings``) exposes its fused warnings, :func:`rule_warnings` gives
transparent threshold rules over the same indicators (levels 1 watch, 2 concern, 3 urgent),
each with its reason as a message key and the numbers behind it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from . import db

RECENT_DAYS = 28
LEVELS = {1: "watch", 2: "concern", 3: "urgent"}


def as_of_date(store: Any) -> str:  # noqa: ANN401
    """The records' 'today': the last attendance date imported (records lag the calendar)."""
    rows = db.query(store, "SELECT MAX(date) AS d FROM attendance")
    return rows[0]["d"] if rows and rows[0]["d"] else date.today().isoformat()


def _minus(day: str, days: int) -> str:
    return (date.fromisoformat(day) - timedelta(days=days)).isoformat()


@dataclass
class Indicators:
    pseudonym: str
    att_recent: float | None = None
    att_term: float | None = None
    late_recent: int = 0
    missing_recent: float | None = None
    ontime_recent: float | None = None
    ontime_term: float | None = None
    score_recent: float | None = None
    score_term: float | None = None
    lms_recent_wk: float | None = None  # minutes per week, last 2 weeks
    lms_before_wk: float | None = None  # minutes per week, the 4 weeks before
    extra: dict[str, Any] = field(default_factory=dict)


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def indicators(store: Any, students: list[str], as_of: str) -> dict[str, Indicators]:  # noqa: ANN401
    """Indicators for ``students`` as of ``as_of`` (recent = last 28 days; term = everything before)."""
    out = {p: Indicators(p) for p in students}
    if not students:
        return out
    recent = _minus(as_of, RECENT_DAYS)
    inl = db.in_list(students)
    # "recent" flags are computed in a subquery: PostgreSQL cannot match a parameter in SELECT to one in GROUP BY
    for r in db.query(store, "SELECT p, rec, status, COUNT(*) AS n FROM (SELECT student_pseudonym AS p, CASE WHEN "  # noqa: S608
                             "date >= ? THEN 1 ELSE 0 END AS rec, status FROM attendance WHERE student_pseudonym IN "
                             f"{inl} AND date <= ?) t GROUP BY p, rec, status", [recent, *students, as_of]):
        out[r["p"]].extra.setdefault("att", defaultdict(int))[(bool(r["rec"]), r["status"])] += int(r["n"])
    for r in db.query(store, "SELECT p, rec, status, COUNT(*) AS n FROM (SELECT student_pseudonym AS p, CASE WHEN "  # noqa: S608
                             "due_at >= ? THEN 1 ELSE 0 END AS rec, status FROM submissions WHERE student_pseudonym "
                             f"IN {inl} AND due_at <= ?) t GROUP BY p, rec, status",
                             [recent, *students, as_of + "T23:59:59Z"]):
        out[r["p"]].extra.setdefault("sub", defaultdict(int))[(bool(r["rec"]), r["status"])] += int(r["n"])
    for r in db.query(store, "SELECT p, rec, AVG(pct) AS s FROM (SELECT r.student_pseudonym AS p, CASE WHEN "  # noqa: S608
                             "r.score_date >= ? THEN 1 ELSE 0 END AS rec, 100.0 * r.score / CASE WHEN "
                             "l.result_value_max > 0 THEN l.result_value_max ELSE 100 END AS pct FROM results r JOIN "
                             "line_items l ON l.sourced_id = r.line_item_sourced_id WHERE r.student_pseudonym IN "
                             f"{inl} AND r.score IS NOT NULL AND r.score_date <= ?) t GROUP BY p, rec",
                             [recent, *students, as_of]):
        out[r["p"]].extra.setdefault("score", {})[bool(r["rec"])] = float(r["s"]) if r["s"] is not None else None
    two, six = _minus(as_of, 14), _minus(as_of, 42)
    for r in db.query(store, "SELECT p, rec, SUM(minutes) AS m FROM (SELECT student_pseudonym AS p, CASE WHEN "  # noqa: S608
                             "date >= ? THEN 1 ELSE 0 END AS rec, minutes FROM lms_activity WHERE student_pseudonym "
                             f"IN {inl} AND date > ? AND date <= ?) t GROUP BY p, rec", [two, *students, six, as_of]):
        out[r["p"]].extra.setdefault("lms", {})[bool(r["rec"])] = float(r["m"] or 0.0)
    for ind in out.values():
        att = ind.extra.pop("att", {})

        def rate(keys: list[bool], att: dict = att) -> float | None:
            came = sum(att.get((k, s), 0) for k in keys for s in ("present", "tardy"))
            return _ratio(came, came + sum(att.get((k, "absent"), 0) for k in keys))
        ind.att_recent, ind.att_term = rate([True]), rate([True, False])
        ind.late_recent = att.get((True, "tardy"), 0)
        sub = ind.extra.pop("sub", {})

        def share(keys: list[bool], status: str, sub: dict = sub) -> float | None:
            tot = sum(sub.get((k, s), 0) for k in keys for s in ("on_time", "late", "missing"))
            return _ratio(sum(sub.get((k, status), 0) for k in keys), tot)
        ind.missing_recent, ind.ontime_recent = share([True], "missing"), share([True], "on_time")
        ind.ontime_term = share([True, False], "on_time")
        score = ind.extra.pop("score", {})
        ind.score_recent = score.get(True)
        vals = [v for v in score.values() if v is not None]
        ind.score_term = sum(vals) / len(vals) if vals else None  # unweighted: recent and earlier halves
        lms = ind.extra.pop("lms", {})
        ind.lms_recent_wk = lms.get(True, 0.0) / 2.0
        ind.lms_before_wk = lms.get(False, 0.0) / 4.0
    return out


@dataclass(frozen=True)
class StudentWarning:
    id: str
    student: str
    type: str  # attendance | submissions | academic | lms
    level: int
    reason_key: str
    params: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "level_name": LEVELS[self.level]}


def _pct(x: float | None) -> int | None:
    return None if x is None else round(x * 100)


def rule_warnings(ind: Indicators, week: str) -> list[StudentWarning]:
    """Threshold rules over one student's indicators; ids are stable within an ISO week."""
    out: list[StudentWarning] = []

    def add(kind: str, level: int, key: str, **params: Any) -> None:
        out.append(StudentWarning(f"{ind.pseudonym}:{kind}:{week}", ind.pseudonym, kind, level, key, params))

    a, at = ind.att_recent, ind.att_term
    if a is not None:
        level = 3 if a < 0.70 else 2 if a < 0.80 else 1 if (a < 0.90 and at is not None and at - a >= 0.05) else 0
        if level:
            add("attendance", level, "reason.attendance", recent=_pct(a), term=_pct(at), days=RECENT_DAYS)
    m = ind.missing_recent
    if m is not None:
        level = 3 if m >= 0.40 else 2 if m >= 0.25 else 1 if m >= 0.15 else 0
        if level:
            add("submissions", level, "reason.submissions", missing=_pct(m), ontime_term=_pct(ind.ontime_term),
                days=RECENT_DAYS)
    s, st = ind.score_recent, ind.score_term
    if s is not None:
        drop = (st - s) if st is not None else 0.0
        level = 3 if (s < 50 or drop >= 25) else 2 if (s < 60 or drop >= 15) else 1 if drop >= 8 else 0
        if level:
            add("academic", level, "reason.academic", recent=round(s), term=round(st) if st is not None else None,
                days=RECENT_DAYS)
    r, b = ind.lms_recent_wk, ind.lms_before_wk
    if r is not None and b and b >= 30:
        ratio = r / b
        level = 2 if ratio < 0.25 else 1 if ratio < 0.45 else 0
        if level:
            add("lms", level, "reason.lms", recent=round(r), before=round(b))
    return out


def iso_week(day: str) -> str:
    y, w, _ = date.fromisoformat(day).isocalendar()
    return f"{y}-W{w:02d}"


def warning_states(store: Any, ids: list[str]) -> dict[str, dict[str, Any]]:  # noqa: ANN401
    """Latest acknowledge/escalate action per warning id."""
    if not ids:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        for r in db.query(store, "SELECT warning_id, action, by_user, ts FROM warning_actions "  # noqa: S608
                                 f"WHERE warning_id IN {db.in_list(chunk)} ORDER BY ts", chunk):
            out[r["warning_id"]] = {"state": r["action"], "by": r["by_user"], "at": r["ts"]}
    return out


def warnings_for(store: Any, students: list[str], as_of: str | None = None) -> list[dict[str, Any]]:  # noqa: ANN401
    as_of = as_of or as_of_date(store)
    week = iso_week(as_of)
    ws = [w for ind in indicators(store, students, as_of).values() for w in rule_warnings(ind, week)]
    states = warning_states(store, [w.id for w in ws])
    out = []
    for w in sorted(ws, key=lambda w: (-w.level, w.student, w.type)):
        d = w.to_dict()
        d.update(states.get(w.id, {"state": "new", "by": None, "at": None}))
        d["as_of"] = as_of
        out.append(d)
    return out


def student_sections(store: Any, pseudonym: str) -> list[str]:  # noqa: ANN401
    rows = db.query(store, "SELECT DISTINCT section_sourced_id AS s FROM enrollments WHERE user_pseudonym = ? "
                           "AND role = ?", (pseudonym, "student"))
    return sorted(r["s"] for r in rows)


def class_engagement(store: Any, sections: list[str], since: str) -> float | None:  # noqa: ANN401
    """Section-level mean engagement of these classes since ``since`` (context, not the student)."""
    if not sections:
        return None
    rows = db.query(store, f"SELECT AVG(engagement) AS e FROM aggregates WHERE section_id IN {db.in_list(sections)} "  # noqa: S608
                           "AND window_start >= ? AND engagement IS NOT NULL", [*sections, since])
    return float(rows[0]["e"]) if rows and rows[0]["e"] is not None else None


def cohort_lms_median(store: Any, as_of: str) -> float | None:  # noqa: ANN401
    rows = db.query(store, "SELECT student_pseudonym AS p, SUM(minutes) AS m FROM lms_activity WHERE date > ? AND "
                           "date <= ? GROUP BY student_pseudonym", (_minus(as_of, 14), as_of))
    vals = sorted(float(r["m"] or 0) / 2.0 for r in rows)
    return vals[len(vals) // 2] if vals else None


def weekly_trends(store: Any, pseudonym: str, as_of: str, weeks: int = 8) -> list[dict[str, Any]]:  # noqa: ANN401
    """Per ISO week: attendance rate, on-time share, mean score %, LMS minutes."""
    since = _minus(as_of, weeks * 7)
    wk: dict[str, dict[str, Any]] = {}

    def row(d: str) -> dict[str, Any]:
        return wk.setdefault(iso_week(d[:10]), {"att": [0, 0], "sub": [0, 0], "score": [], "lms": 0.0})

    for r in db.query(store, "SELECT date, status FROM attendance WHERE student_pseudonym = ? AND date > ? AND "
                             "date <= ?", (pseudonym, since, as_of)):
        if r["status"] in ("present", "tardy", "absent"):
            row(r["date"])["att"][0] += r["status"] != "absent"
            row(r["date"])["att"][1] += 1
    for r in db.query(store, "SELECT due_at, status FROM submissions WHERE student_pseudonym = ? AND due_at > ? AND "
                             "due_at <= ?", (pseudonym, since, as_of + "T23:59:59Z")):
        if r["status"] != "excused":
            row(r["due_at"])["sub"][0] += r["status"] == "on_time"
            row(r["due_at"])["sub"][1] += 1
    for r in db.query(store, "SELECT r.score_date AS d, 100.0 * r.score / CASE WHEN l.result_value_max > 0 THEN "
                             "l.result_value_max ELSE 100 END AS s FROM results r JOIN line_items l ON l.sourced_id = "
                             "r.line_item_sourced_id WHERE r.student_pseudonym = ? AND r.score IS NOT NULL AND "
                             "r.score_date > ? AND r.score_date <= ?", (pseudonym, since, as_of)):
        row(r["d"])["score"].append(float(r["s"]))
    for r in db.query(store, "SELECT date, minutes FROM lms_activity WHERE student_pseudonym = ? AND date > ? AND "
                             "date <= ?", (pseudonym, since, as_of)):
        row(r["date"])["lms"] += float(r["minutes"] or 0)
    out = []
    for w in sorted(wk):
        v = wk[w]
        out.append({"week": w, "attendance": _ratio(*v["att"]), "ontime": _ratio(*v["sub"]),
                    "score": sum(v["score"]) / len(v["score"]) if v["score"] else None, "lms_minutes": round(v["lms"])})
    return out


def profile(store: Any, pseudonym: str, as_of: str | None = None) -> dict[str, Any]:  # noqa: ANN401
    """Radar (0–1 per axis, None when unknown), weekly trends, warnings, interventions."""
    as_of = as_of or as_of_date(store)
    ind = indicators(store, [pseudonym], as_of)[pseudonym]
    median = cohort_lms_median(store, as_of)
    sections = student_sections(store, pseudonym)
    lms = None if ind.lms_recent_wk is None or not median else min(1.0, ind.lms_recent_wk / median)
    radar = {"academic": None if ind.score_recent is None else max(0.0, min(1.0, ind.score_recent / 100.0)),
             "attendance": ind.att_recent, "submissions": ind.ontime_recent, "lms": lms,
             "class_engagement": class_engagement(store, sections, _minus(as_of, RECENT_DAYS))}
    user = db.query(store, "SELECT grades FROM users WHERE pseudonym = ?", (pseudonym,))
    return {"student": pseudonym, "as_of": as_of, "grade": user[0]["grades"] if user else None, "radar": radar,
            "indicators": {k: v for k, v in asdict(ind).items() if k not in ("extra", "pseudonym")},
            "trends": weekly_trends(store, pseudonym, as_of), "sections": sections,
            "warnings": warnings_for(store, [pseudonym], as_of)}
