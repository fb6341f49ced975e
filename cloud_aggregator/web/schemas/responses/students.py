"""A student's profile, interventions and their measured effects."""

from __future__ import annotations

from typing import Any

from . import Out
from .warnings import RunView, WarningCard


class Radar(Out):
    """0–1 per axis, null when unknown; class engagement is the sections' level, not the student's."""

    academic: float | None
    attendance: float | None
    submissions: float | None
    lms: float | None
    class_engagement: float | None


class Indicators(Out):
    att_recent: float | None
    att_term: float | None
    late_recent: int
    missing_recent: float | None
    ontime_recent: float | None
    ontime_term: float | None
    score_recent: float | None
    score_term: float | None
    lms_recent_wk: float | None
    lms_before_wk: float | None


class WeekTrend(Out):
    week: str
    attendance: float | None
    ontime: float | None
    score: float | None
    lms_minutes: int


class Effect(Out):
    """Risk before and after one intervention, beside comparable students without one."""

    model_version: str | None
    at_date: str | None
    score_before: float | None
    score_2w: float | None
    score_4w: float | None
    comparison: dict[str, Any]
    change_2w: float | None
    comparison_change_2w: float | None
    change_4w: float | None
    comparison_change_4w: float | None


class Intervention(Out):
    id: str
    warning_id: str | None
    by: str
    created_at: str
    kind: str
    note: str
    outcome: str | None
    outcome_note: str
    outcome_at: str | None
    effect: Effect | None


class Profile(Out):
    student: str
    as_of: str
    grade: str | None
    radar: Radar
    indicators: Indicators
    trends: list[WeekTrend]
    sections: list[str]
    card: WarningCard | None
    run: RunView | None
    name: dict[str, str] | None
    interventions: list[Intervention]


class KindEffect(Out):
    n: int
    n_2w: int
    mean_change_2w: float | None
    comparison_change_2w: float | None
    difference_2w: float | None
    n_4w: int
    mean_change_4w: float | None
    comparison_change_4w: float | None
    difference_4w: float | None


class EffectsOut(Out):
    by_kind: dict[str, KindEffect]
    caveat: str


class OutcomeOut(Out):
    id: str
    outcome: str
