"""Per-student risk-model features as of a date, from the academic records and section-level context.

Only what the records knew on ``as_of``: attendance pattern, missing/late work, results and their
trend, LMS activity and its trend, grade level, and the *section-level* anonymous engagement of the
student's classes (context, never a measurement of the student). Never protected attributes (the
outcome import's group columns are for the fairness audit only) and never per-student sensing.
Missing values stay NaN: "no data" is not "no risk", and the model learns what absence means.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from cloud_aggregator.store.class_signals import engagement_of_students_sections
from cloud_aggregator.store.warning_indicators import grade_levels

from .student_rules import _minus, indicators

if TYPE_CHECKING:
    from cloud_aggregator.store import Store

#: feature → (plain-words message key's unit: 'pct' shown ×100, 'num' rounded)
FEATURES: dict[str, str] = {
    "att_recent": "pct", "att_term": "pct", "att_drop": "pct", "late_recent": "num",
    "missing_recent": "pct", "missing_term": "pct", "ontime_recent": "pct", "ontime_term": "pct",
    "score_recent": "num", "score_term": "num", "score_drop": "num",
    "lms_recent_wk": "num", "lms_before_wk": "num", "lms_ratio": "pct",
    "grade_level": "num", "class_engagement": "pct", "class_engagement_change": "pct",
}
FEATURE_NAMES: tuple[str, ...] = tuple(FEATURES)
NAN = float("nan")


def _f(x: float | None) -> float:
    return NAN if x is None else float(x)


def _grade(text: str | None) -> float:
    try:
        return float(str(text).split(",")[0])
    except (TypeError, ValueError):
        return NAN


def features(store: Store, students: list[str], as_of: str, recent_days: int = 28) -> dict[str, dict[str, float]]:
    """{pseudonym: {feature: value or NaN}} as of ``as_of`` (recent = the last ``recent_days``)."""
    out: dict[str, dict[str, float]] = {}
    if not students:
        return out
    rec = indicators(store, students, as_of, recent_days)
    term = indicators(store, students, as_of, 3650)  # "recent" = the whole term: term-long shares
    grades = grade_levels(store, students)
    nxt = _minus(as_of, -1)
    eng_now = engagement_of_students_sections(store, students, _minus(as_of, recent_days - 1), nxt)
    eng_before = engagement_of_students_sections(store, students, _minus(as_of, 2 * recent_days - 1),
                                                 _minus(as_of, recent_days - 1))
    for p in students:
        i, t = rec[p], term[p]
        before = i.lms_before_wk
        row = {
            "att_recent": _f(i.att_recent), "att_term": _f(i.att_term),
            "att_drop": _f(None if i.att_recent is None or i.att_term is None else i.att_term - i.att_recent),
            "late_recent": float(i.late_recent), "missing_recent": _f(i.missing_recent),
            "missing_term": _f(t.missing_recent), "ontime_recent": _f(i.ontime_recent), "ontime_term": _f(i.ontime_term),
            "score_recent": _f(i.score_recent), "score_term": _f(i.score_term),
            "score_drop": _f(None if i.score_recent is None or i.score_term is None else i.score_term - i.score_recent),
            "lms_recent_wk": _f(i.lms_recent_wk), "lms_before_wk": _f(before),
            "lms_ratio": _f(None if not before else min(3.0, (i.lms_recent_wk or 0.0) / before)),
            "grade_level": _grade(grades.get(p)), "class_engagement": _f(eng_now.get(p)),
            "class_engagement_change": _f(None if p not in eng_now or p not in eng_before
                                          else eng_now[p] - eng_before[p]),
        }
        out[p] = row
    return out


def shown(feature: str, value: float) -> float | int | None:
    """A feature's value as a message shows it (percentages as whole numbers)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(value * 100) if FEATURES[feature] == "pct" else round(value, 1)
