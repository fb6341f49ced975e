"""Per-student indicators from the academic records and the transparent threshold rules over them.

Only academic records feed these (attendance, submissions, results, LMS activity), never
classroom sensing. Each rule gives a level (1 watch, 2 concern, 3 urgent; cut-offs in
``warnings.students`` of the config) and its reasons as message keys with the numbers behind
them, most important first, so a message or the dashboard can say *why* in plain words.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from cloud_aggregator.config.warnings import StudentRules
from cloud_aggregator.store import warning_indicators as reads
from cloud_aggregator.store.source_freshness import latest_day

if TYPE_CHECKING:
    from cloud_aggregator.store import Store

RECENT_DAYS = 28
LEVELS = {1: "watch", 2: "concern", 3: "urgent"}


def as_of_date(store: Store) -> str:
    """The records' 'today': the last attendance date imported (records lag the calendar)."""
    return latest_day(store, "attendance") or date.today().isoformat()


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


def indicators(store: Store, students: list[str], as_of: str,
               recent_days: int = RECENT_DAYS) -> dict[str, Indicators]:
    """Indicators for ``students`` as of ``as_of`` (recent = last ``recent_days``; term = everything before)."""
    out = {p: Indicators(p) for p in students}
    if not students:
        return out
    recent = _minus(as_of, recent_days)
    for p, rec, status, n in reads.attendance_counts(store, students, recent, as_of):
        out[p].extra.setdefault("att", defaultdict(int))[(rec, status)] += n
    for p, rec, status, n in reads.submission_counts(store, students, recent, as_of):
        out[p].extra.setdefault("sub", defaultdict(int))[(rec, status)] += n
    for p, rec, score in reads.mean_scores(store, students, recent, as_of):
        out[p].extra.setdefault("score", {})[rec] = score
    two, six = _minus(as_of, 14), _minus(as_of, 42)  # the last 2 weeks, and the 4 weeks before them
    for p, rec, minutes in reads.lms_minutes(store, students, two, six, as_of):
        out[p].extra.setdefault("lms", {})[rec] = minutes
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
    reasons: tuple[dict[str, Any], ...] = ()  # [{key, params}], most important first (the first is reason_key)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["reasons"] = list(self.reasons) or [{"key": self.reason_key, "params": self.params}]
        return {**d, "level_name": LEVELS[self.level]}


def _pct(x: float | None) -> int | None:
    return None if x is None else round(x * 100)


def rule_warnings(ind: Indicators, week: str, rules: StudentRules | None = None) -> list[StudentWarning]:
    """Threshold rules over one student's indicators; ids are stable within an ISO week."""
    rules = rules or StudentRules()
    days = rules.recent_days
    out: list[StudentWarning] = []
    more: list[tuple[str, dict[str, Any]]]  # further reasons after the first

    def add(kind: str, level: int, key: str, params: dict[str, Any], *more: tuple[str, dict[str, Any]]) -> None:
        reasons = ({"key": key, "params": params}, *({"key": k, "params": p} for k, p in more))
        out.append(StudentWarning(f"{ind.pseudonym}:{kind}:{week}", ind.pseudonym, kind, level, key, params, reasons))

    a, at = ind.att_recent, ind.att_term
    if a is not None:
        level = rules.attendance_rate.level(a)
        if level == 1 and not (at is not None and at - a >= rules.attendance_watch_needs_drop):
            level = 0
        if level:
            more = [("reason.late", {"n": ind.late_recent, "days": days})] if ind.late_recent else []
            add("attendance", level, "reason.attendance", {"recent": _pct(a), "term": _pct(at), "days": days}, *more)
    m = ind.missing_recent
    if m is not None:
        level = rules.missing_share.level(m)
        if level:
            more = [("reason.ontime", {"recent": _pct(ind.ontime_recent), "term": _pct(ind.ontime_term), "days": days})]
            add("submissions", level, "reason.submissions", {"missing": _pct(m), "ontime_term": _pct(ind.ontime_term),
                                                               "days": days}, *more)
    s, st = ind.score_recent, ind.score_term
    if s is not None:
        drop = (st - s) if st is not None else 0.0
        by_drop, by_score = rules.score_drop.level(drop), rules.score_pct.level(s)
        level = max(by_drop, by_score)
        if level:
            more = [("reason.score_drop", {"drop": round(drop), "days": days})] if by_drop else []
            add("academic", level, "reason.academic", {"recent": round(s), "term": round(st) if st is not None else None,
                                                         "days": days}, *more)
    r, b = ind.lms_recent_wk, ind.lms_before_wk
    if r is not None and b and b >= rules.lms_min_before_wk:
        level = rules.lms_ratio.level(r / b)
        if level:
            add("lms", level, "reason.lms", {"recent": round(r), "before": round(b)})
    return out


def iso_week(day: str) -> str:
    y, w, _ = date.fromisoformat(day).isocalendar()
    return f"{y}-W{w:02d}"


def cohort_lms_median(store: Store, as_of: str) -> float | None:
    """Median weekly LMS minutes over the cohort's last 14 days (the tags' and the profile's yardstick)."""
    vals = sorted(m / 2.0 for m in reads.cohort_lms_minutes(store, _minus(as_of, 14), as_of))
    return vals[len(vals) // 2] if vals else None
