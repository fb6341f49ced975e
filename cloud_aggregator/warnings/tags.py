"""Student tags ("declining grades", "missing submissions", …), each with the evidence behind it.

Derived from the same indicators as the rules and the student profile (``engine.student_indicators``),
so a tag never contradicts a warning or the profile: "irregular attendance" means a low attendance rate,
and late arrivals (which count as attended) are their own tag. Tags also appear on students with no
warning yet (a teacher may want to know about a slide early).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cloud_aggregator.config.warnings import TagRules

from .student_rules import Indicators

#: plain-word labels (English; the dashboard translates ``tag.<id>``)
TAG_LABELS = {"declining_grades": "declining grades", "missing_submissions": "missing submissions",
              "low_lms_activity": "low LMS activity", "irregular_attendance": "irregular attendance", "often_late": "often late"}


@dataclass(frozen=True)
class Tag:
    id: str
    evidence_key: str
    evidence: dict[str, Any]

    @property
    def label(self) -> str:
        return TAG_LABELS[self.id]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "evidence_key": self.evidence_key, "evidence": self.evidence}


def _pct(x: float | None) -> int | None:
    return None if x is None else round(x * 100)


def student_tags(ind: Indicators, rules: TagRules, cohort_lms_median: float | None, days: int) -> list[Tag]:
    out: list[Tag] = []
    s, st = ind.score_recent, ind.score_term
    if s is not None and st is not None and st - s >= rules.declining_grades_drop:
        out.append(Tag("declining_grades", "evidence.declining_grades",
                       {"recent": round(s), "term": round(st), "drop": round(st - s), "days": days}))
    m = ind.missing_recent
    if m is not None and m >= rules.missing_submissions_share:
        out.append(Tag("missing_submissions", "evidence.missing_submissions", {"missing": _pct(m), "days": days}))
    r, b = ind.lms_recent_wk, ind.lms_before_wk
    low_ratio = r is not None and b is not None and b > 0 and r / b < rules.low_lms_ratio
    med = cohort_lms_median or 0.0  # no cohort median (or 0): no comparison with it
    low_cohort = r is not None and med != 0 and r < rules.low_lms_vs_median * med
    if low_ratio or low_cohort:
        out.append(Tag("low_lms_activity", "evidence.low_lms_activity",
                       {"recent": round(r or 0), "before": round(b or 0),
                        "median": round(cohort_lms_median) if cohort_lms_median else None}))
    a = ind.att_recent
    if a is not None and a < rules.irregular_attendance_rate:
        out.append(Tag("irregular_attendance", "evidence.irregular_attendance",
                       {"recent": _pct(a), "late": ind.late_recent, "days": days}))
    if a is not None and ind.late_recent >= rules.irregular_attendance_late:
        out.append(Tag("often_late", "evidence.often_late", {"recent": _pct(a), "late": ind.late_recent, "days": days}))
    return out
