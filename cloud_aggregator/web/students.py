"""Per-student indicators from the academic records, the counsellor's warnings, and the student profile.

Only academic records feed these (attendance, submissions, results, LMS activity), never
classroom sensing: the profile's "class engagement" axis is the *section-level* mean of the
student's classes, shown as context, not a measurement of the student. The indicators and
threshold rules live in ``cloud_aggregator.warnings.student_rules`` (re-exported here). The dashboard
never re-runs them: it shows what the engine's last run stored (``store.warning_log``), one card per
student with the rule warnings and the risk model's side by side, so the list is the set delivered.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from cloud_aggregator.config.warnings import WarningsConfig
from cloud_aggregator.store import student_history, warning_log
from cloud_aggregator.store.warning_indicators import grade_levels
from cloud_aggregator.warnings.engine import student_indicators
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

if TYPE_CHECKING:
    from cloud_aggregator.store import Store


def _member(r: dict[str, Any], states: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One stored warning inside a card: its type, level and reasons as the engine wrote them."""
    return {"id": r["id"], "type": r["type"], "level": int(r["level"]), "level_name": LEVELS[int(r["level"])],
            "reasons": r["reasons"], "intervention": r["intervention"], "stale": r["stale"],
            "stale_sources": r["stale_sources"], "data_as_of": r["data_as_of"], "routed_to": r["step_role"],
            "engine_state": r["state"], **states.get(r["id"], {"state": "new", "by": None, "at": None})}


def _card_state(members: list[dict[str, Any]]) -> str:
    """Escalated if any is; acknowledged only when every warning of the card is; else new."""
    states = {m["state"] for m in members}
    return "escalate" if "escalate" in states else "acknowledge" if states == {"acknowledge"} else "new"


def warning_cards(store: Store, students: list[str]) -> list[dict[str, Any]]:  # noqa: ANN401
    """One card per student from the engine's stored warnings: the rule warnings and the risk model's side by
    side, the student's tags once (the run stores the same tags on each), most severe card first."""
    rows = warning_log.active_warnings(store, "student", students)
    states = warning_log.warning_states(store, [r["id"] for r in rows])
    by_student: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_student.setdefault(r["subject"], []).append(r)
    cards = []
    for p, rs in by_student.items():
        members = [_member(r, states) for r in rs]  # most severe first
        rules = [m for m in members if m["type"] != "risk"]
        model = next((m for m in members if m["type"] == "risk"), None)
        top = members[0]
        cards.append({"student": p, "id": top["id"], "level": top["level"], "level_name": top["level_name"],
                      "ids": [m["id"] for m in members], "types": [m["type"] for m in members],
                      "rules": rules, "model": model, "tags": rs[0]["tags"], "intervention": top["intervention"],
                      "stale": any(m["stale"] for m in members),
                      "stale_sources": sorted({x for m in members for x in m["stale_sources"]}),
                      "data_as_of": min((m["data_as_of"] for m in members if m["data_as_of"]), default=None),
                      "state": _card_state(members), "by": next((m["by"] for m in members if m["by"]), None)})
    return sorted(cards, key=lambda c: (-c["level"], c["student"]))


def class_warnings(store: Store, sections: list[str]) -> list[dict[str, Any]]:  # noqa: ANN401
    """Active class-level warnings the engine stored for these sections, with their acknowledgement state."""
    rows = warning_log.active_warnings(store, "section", sections)
    states = warning_log.warning_states(store, [r["id"] for r in rows])
    return [{**_member(r, states), "section": r["subject"]} for r in rows]


def weekly_trends(store: Store, pseudonym: str, as_of: str, weeks: int = 8) -> list[dict[str, Any]]:  # noqa: ANN401
    """Per ISO week: attendance rate, on-time share, mean score %, LMS minutes."""
    since = _minus(as_of, weeks * 7)
    wk: dict[str, dict[str, Any]] = {}

    def row(d: str) -> dict[str, Any]:
        return wk.setdefault(iso_week(d[:10]), {"att": [0, 0], "sub": [0, 0], "score": [], "lms": 0.0})

    for r in student_history.attendance(store, pseudonym, since, as_of):
        if r["status"] in ("present", "tardy", "absent"):
            row(r["date"])["att"][0] += r["status"] != "absent"
            row(r["date"])["att"][1] += 1
    for r in student_history.submissions(store, pseudonym, since, as_of + "T23:59:59Z"):
        if r["status"] != "excused":
            row(r["due_at"])["sub"][0] += r["status"] == "on_time"
            row(r["due_at"])["sub"][1] += 1
    for r in student_history.score_percents(store, pseudonym, since, as_of):
        row(r["d"])["score"].append(float(r["s"]))
    for r in student_history.lms_minutes(store, pseudonym, since, as_of):
        row(r["date"])["lms"] += float(r["minutes"] or 0)
    out = []
    for w in sorted(wk):
        v = wk[w]
        out.append({"week": w, "attendance": _ratio(*v["att"]), "ontime": _ratio(*v["sub"]),
                    "score": sum(v["score"]) / len(v["score"]) if v["score"] else None, "lms_minutes": round(v["lms"])})
    return out


def profile(store: Store, pseudonym: str, cfg: WarningsConfig | None = None) -> dict[str, Any]:  # noqa: ANN401
    """Radar (0–1 per axis, None when unknown), weekly trends and the student's stored warning card. The
    indicators come from ``engine.student_indicators``, the function the run's rules and tags read."""
    cfg = cfg or WarningsConfig()
    days = cfg.students.recent_days
    as_of = as_of_date(store)
    inds, _, median = student_indicators(store, [pseudonym], datetime.now(timezone.utc).date().isoformat(), days)
    ind = inds[pseudonym]
    sections = student_history.student_sections(store, pseudonym)
    lms = None if ind.lms_recent_wk is None or not median else min(1.0, ind.lms_recent_wk / median)
    radar = {"academic": None if ind.score_recent is None else max(0.0, min(1.0, ind.score_recent / 100.0)),
             "attendance": ind.att_recent, "submissions": ind.ontime_recent, "lms": lms,
             "class_engagement": student_history.class_engagement(store, sections, _minus(as_of, days))}
    cards = warning_cards(store, [pseudonym])
    grade = grade_levels(store, [pseudonym]).get(pseudonym)
    return {"student": pseudonym, "as_of": as_of, "grade": grade, "radar": radar,
            "indicators": {k: v for k, v in asdict(ind).items() if k not in ("extra", "pseudonym")},
            "trends": weekly_trends(store, pseudonym, as_of), "sections": sections,
            "card": cards[0] if cards else None, "run": warning_log.run_view(warning_log.last_run(store))}
