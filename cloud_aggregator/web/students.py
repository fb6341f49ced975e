"""Per-student indicators from the academic records, the counsellor's warnings, and the student profile.

Only academic records feed these (attendance, submissions, results, LMS activity), never
classroom sensing: the profile's "class engagement" axis is the *section-level* mean of the
student's classes, shown as context, not a measurement of the student. The indicators and
threshold rules live in ``cloud_aggregator.warnings.student_rules`` (re-exported here); the
dashboard computes them live and adds what the last scoring run stored for the same warning id
(tags, recommended intervention, stale sources, who it was routed to).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from cloud_aggregator.store import db
from cloud_aggregator.warnings.config import StudentRules
from cloud_aggregator.warnings.routing import warning_states
from cloud_aggregator.warnings.student_rules import (  # noqa: F401 - re-exported for the web layer and tests
    LEVELS,
    RECENT_DAYS,
    Indicators,
    StudentWarning,
    _minus,
    _ratio,
    as_of_date,
    cohort_lms_median,
    indicators,
    iso_week,
    rule_warnings,
)


def stored_warnings(store: Any, ids: list[str]) -> dict[str, dict[str, Any]]:  # noqa: ANN401
    """What the last scoring runs recorded for these warning ids (tags, intervention, staleness, routing)."""
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(ids), 400):
        chunk = ids[i:i + 400]
        for r in db.query(store, f"SELECT * FROM warning_log WHERE id IN {db.in_list(chunk)}", chunk):  # noqa: S608
            out[r["id"]] = _stored_view(r)
    return out


def _stored_view(r: dict[str, Any]) -> dict[str, Any]:
    return {"tags": json.loads(r["tags"] or "[]"), "intervention": json.loads(r["intervention"] or "null"),
            "stale": bool(r["stale"]), "stale_sources": [x for x in (r["stale_sources"] or "").split(",") if x],
            "data_as_of": r["data_as_of"], "routed_to": r["step_role"], "engine_state": r["state"],
            "last_seen": r["last_seen"]}


def warnings_for(store: Any, students: list[str], as_of: str | None = None,  # noqa: ANN401
                 rules: StudentRules | None = None) -> list[dict[str, Any]]:
    """Live rule warnings for these students, with what the engine stored for the same ids (if it ran)."""
    as_of = as_of or as_of_date(store)
    week = iso_week(as_of)
    days = rules.recent_days if rules else RECENT_DAYS
    ws = [w for ind in indicators(store, students, as_of, days).values() for w in rule_warnings(ind, week, rules)]
    states = warning_states(store, [w.id for w in ws])
    stored = stored_warnings(store, [w.id for w in ws])
    out = []
    for w in sorted(ws, key=lambda w: (-w.level, w.student, w.type)):
        d = w.to_dict()
        d.update(states.get(w.id, {"state": "new", "by": None, "at": None}))
        d.update(stored.get(w.id, {"tags": [], "intervention": None, "stale": False, "stale_sources": []}))
        d["as_of"] = as_of
        out.append(d)
    out += risk_warnings(store, students)
    return sorted(out, key=lambda w: (-w["level"], w["student"], w["type"]))


def risk_warnings(store: Any, students: list[str]) -> list[dict[str, Any]]:  # noqa: ANN401
    """The risk model's active warnings for these students, as the last scoring run stored them."""
    out = []
    for i in range(0, len(students), 400):
        chunk = students[i:i + 400]
        rows = db.query(store, "SELECT * FROM warning_log WHERE type = ? AND active = 1 AND subject IN "  # noqa: S608
                               f"{db.in_list(chunk)}", ["risk", *chunk])
        states = warning_states(store, [r["id"] for r in rows])
        for r in rows:
            reasons = json.loads(r["reasons"] or "[]")
            first = reasons[0] if reasons else {"key": "reason.risk", "params": {}}
            out.append({"id": r["id"], "student": r["subject"], "type": "risk", "level": r["level"],
                        "level_name": LEVELS[int(r["level"])], "reason_key": first["key"], "params": first["params"],
                        "reasons": reasons, **_stored_view(r), "as_of": r["data_as_of"],
                        **states.get(r["id"], {"state": "new", "by": None, "at": None})})
    return out


def class_warnings(store: Any, sections: list[str]) -> list[dict[str, Any]]:  # noqa: ANN401
    """Active class-level warnings the engine stored for these sections, with their acknowledgement state."""
    if not sections:
        return []
    rows = db.query(store, "SELECT * FROM warning_log WHERE scope = ? AND active = 1 AND subject IN "  # noqa: S608
                           f"{db.in_list(sections)} ORDER BY level DESC, subject", ["section", *sections])
    states = warning_states(store, [r["id"] for r in rows])
    return [{"id": r["id"], "section": r["subject"], "type": r["type"], "level": r["level"],
             "reasons": json.loads(r["reasons"] or "[]"), **_stored_view(r),
             **states.get(r["id"], {"state": "new", "by": None, "at": None})} for r in rows]


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


def profile(store: Any, pseudonym: str, as_of: str | None = None,  # noqa: ANN401
            rules: StudentRules | None = None) -> dict[str, Any]:
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
            "warnings": warnings_for(store, [pseudonym], as_of, rules)}


def warning_exists(store: Any, warning_id: str, rules: StudentRules | None = None) -> bool:  # noqa: ANN401
    """Whether ``warning_id`` names a warning the engine stored or the rules raise now (actions on others: 404)."""
    if db.query(store, "SELECT 1 FROM warning_log WHERE id = ? LIMIT 1", (warning_id,)):
        return True
    subject = warning_id.split(":", 1)[0]
    return any(w["id"] == warning_id for w in warnings_for(store, [subject], rules=rules))
