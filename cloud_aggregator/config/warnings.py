"""``warnings:`` section of the aggregator config: thresholds, tags, freshness, routing, delivery, catalogue.

Every number the engine decides with lives here so a school tunes it in YAML; the defaults
reproduce the dashboard's original rules (levels 1 watch, 2 concern, 3 urgent). Parents are
never recipients unless ``allow_parents`` is set.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from cloud_aggregator.config.section import Section, section_of

StudentType = Literal["academic", "attendance", "submissions", "lms", "risk"]
ClassType = Literal["class_attention", "class_participation", "class_tone"]
WarningType = Literal["academic", "attendance", "submissions", "lms", "risk", "class_attention",
                      "class_participation", "class_tone"]
STUDENT_TYPES: tuple[str, ...] = ("academic", "attendance", "submissions", "lms", "risk")
RULE_TYPES: tuple[str, ...] = ("academic", "attendance", "submissions", "lms")
CLASS_TYPES: tuple[str, ...] = ("class_attention", "class_participation", "class_tone")
Role = Literal["teacher", "advisor", "counsellor", "parent"]
Channel = Literal["email", "webhook"]
Source = Literal["attendance", "submissions", "results", "lms", "aggregates"]
#: which records source each warning type is computed from (its freshness decides 'stale')
TYPE_SOURCE: dict[str, str] = {"attendance": "attendance", "submissions": "submissions", "academic": "results",
                               "lms": "lms", "class_attention": "aggregates", "class_participation": "aggregates",
                               "class_tone": "aggregates"}


# Typed default factories: mypy reads a bare ``lambda: ["teacher"]`` as ``list[str]``, not ``list[Role]``
def _roles(*roles: Role) -> Callable[[], list[Role]]:
    return lambda: list(roles)


def _max_age_days() -> dict[Source, float]:
    return {"attendance": 3.0, "submissions": 10.0, "results": 21.0, "lms": 3.0, "aggregates": 7.0}


def _channels() -> dict[Role, list[Channel]]:
    return {"teacher": ["email"], "advisor": ["email"], "counsellor": ["email", "webhook"], "parent": ["email"]}


class Tiers(Section):
    """Cut-offs for levels 1, 2, 3 (watch, concern, urgent; null = no such level); ``below`` says which side is worse."""

    watch: float | None
    concern: float | None
    urgent: float | None
    below: bool = Field(description="true: a value below the cut-off is worse (e.g. attendance rate)")

    @model_validator(mode="after")
    def _ordered(self) -> Tiers:
        seq = [c for c in (self.watch, self.concern, self.urgent) if c is not None]
        if seq != sorted(seq, reverse=self.below):
            raise ValueError("tiers must get stricter from watch to concern to urgent")
        return self

    def level(self, value: float | None) -> int:
        """0 (no warning) to 3."""
        if value is None:
            return 0
        hit = [c is not None and ((value < c) if self.below else (value >= c))
               for c in (self.watch, self.concern, self.urgent)]
        return max((i + 1 for i, h in enumerate(hit) if h), default=0)


class StudentRules(Section):
    """Per-student rules over the last ``recent_days`` of records vs the term."""

    recent_days: int = Field(28, ge=7, le=120)
    attendance_rate: Tiers = Tiers(watch=0.90, concern=0.80, urgent=0.70, below=True)
    attendance_watch_needs_drop: float = Field(0.05, ge=0, le=1, description="a rate below the watch cut-off "
                                               "alone is level 1 only if it fell at least this much from the term")
    missing_share: Tiers = Tiers(watch=0.15, concern=0.25, urgent=0.40, below=False)
    score_pct: Tiers = Tiers(watch=None, concern=60.0, urgent=50.0, below=True)
    score_drop: Tiers = Tiers(watch=8.0, concern=15.0, urgent=25.0, below=False)
    lms_ratio: Tiers = Tiers(watch=0.45, concern=0.25, urgent=None, below=True)
    lms_min_before_wk: float = Field(30.0, ge=0, description="LMS rule only for students who used it this much before")


class TagRules(Section):
    """Student tags (each with its evidence) from the same indicators."""

    declining_grades_drop: float = Field(8.0, gt=0, description="points below the term average")
    missing_submissions_share: float = Field(0.15, gt=0, le=1)
    low_lms_ratio: float = Field(0.45, gt=0, le=1, description="recent LMS minutes / earlier minutes")
    low_lms_vs_median: float = Field(0.3, gt=0, le=1, description="…or below this share of the cohort median")
    irregular_attendance_rate: float = Field(0.90, gt=0, le=1)
    irregular_attendance_late: int = Field(3, ge=1, description="this many late arrivals recently: 'often late'")


class ClassRules(Section):
    """Class-level engagement warnings from the section's own anonymous aggregates."""

    enabled: bool = True
    recent_days: int = Field(3, ge=1, le=30, description="last N class days (days with windows) compared…")
    baseline_days: int = Field(10, ge=2, le=120, description="…with the section's N class days before them")
    min_baseline_days: int = Field(3, ge=1, description="no warning before this much baseline")
    lookback_days: int = Field(60, ge=7, le=365, description="calendar days of aggregates read")
    drop: Tiers = Tiers(watch=0.15, concern=0.25, urgent=0.40, below=False)  # relative drop vs baseline
    min_baseline: float = Field(0.05, ge=0, le=1, description="no drop warning when the baseline is below this")
    tone_rise: Tiers = Tiers(watch=0.10, concern=0.20, urgent=0.30, below=False)  # negative-tone share, absolute


class Freshness(Section):
    """A source older than this (days before the run) is stale: its warnings say so, and none means 'unknown'."""

    max_age_days: dict[Source, float] = Field(default_factory=_max_age_days)
    not_collected: list[Source] = Field(default_factory=list, description="sources this institution does not "
                                        "have at all (OULAD: attendance, lms, aggregates): no data there is "
                                        "absence by design, not staleness; data that does arrive is checked")


class RouteRule(Section):
    types: list[WarningType] = Field(default_factory=list, description="empty: every type")
    min_level: int = Field(1, ge=1, le=3)
    roles: list[Role] = Field(min_length=1)


class Escalation(Section):
    after_h: float = Field(48.0, gt=0, description="unacknowledged this long → next role in the chain")
    student_chain: list[Role] = Field(default_factory=_roles("teacher", "advisor", "counsellor"))
    class_chain: list[Role] = Field(default_factory=_roles("teacher"))

    @model_validator(mode="after")
    def _no_repeats(self) -> Escalation:
        for chain in (self.student_chain, self.class_chain):
            if len(chain) != len(set(chain)) or not chain:
                raise ValueError("an escalation chain names each role once and is not empty")
        if "parent" in self.class_chain:
            raise ValueError("parents get no class-level warnings")
        return self


class EmailConfig(Section):
    host: str
    port: int = Field(25, ge=1, le=65535)
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    starttls: bool = False
    ssl: bool = False
    username: str | None = None
    password_file: Path | None = None
    timeout_s: float = Field(10.0, gt=0)


class WebhookConfig(Section):
    url: str = Field(pattern=r"^https?://\S{1,500}$")
    secret_file: Path = Field(description="shared secret for the X-ClassPulse-Signature HMAC-SHA256 header")
    timeout_s: float = Field(10.0, gt=0)


class Delivery(Section):
    email: EmailConfig | None = None
    webhook: WebhookConfig | None = None
    channels: dict[Role, list[Channel]] = Field(default_factory=_channels)
    max_attempts: int = Field(8, ge=1, le=100, description="then the delivery is 'failed' (kept, listed, retryable)")
    retry_base_s: float = Field(60.0, gt=0, description="backoff: base × 2^(attempts-1), capped at 6 h")
    language: Literal["en", "zh-CN"] = "zh-CN"


class Intervention(Section):
    id: str = Field(pattern=r"^[a-z0-9_]{1,40}$")
    text: str = Field(min_length=1, max_length=500)
    resource: str | None = Field(None, max_length=500)


class Drift(Section):
    """Weekly population-stability check of the features and scores vs the model's training window."""

    every_days: float = Field(7.0, gt=0, description="at most one drift check per this many days (in a run)")
    psi_threshold: float = Field(0.25, gt=0, description="PSI above this (any feature or the scores) = drifted")
    on_drift: Literal["retrain", "recommend"] = Field("retrain", description="retrain at once, or only flag it")


class Retention(Section):
    """Days the warnings' bookkeeping is kept (applied by ``cloud-aggregator retention``)."""

    runs_days: int = Field(400, ge=7)
    deliveries_days: int = Field(400, ge=7, description="finished deliveries (pending ones are never deleted)")
    escalations_days: int = Field(400, ge=7)
    drift_days: int = Field(400, ge=7)


class RiskConfig(Section):
    """The per-institution risk model (``cloud-aggregator warnings train``); runs use the active version."""

    enabled: bool = True
    kind: Literal["auto", "lightgbm", "logistic"] = Field("auto", description="auto: higher cross-validated AUC")
    levels: Tiers = Tiers(watch=0.3, concern=0.5, urgent=0.7, below=False)  # on the predicted probability
    top_reasons: int = Field(3, ge=1, le=10)
    model_dir: Path | None = Field(None, description="where model files go (default: risk-models/ beside a SQLite "
                                   "store, else ./risk-models)")
    step_days: int = Field(7, ge=1, le=60, description="training snapshots every N days of the records")
    min_days: int = Field(21, ge=0, description="first snapshot this many days after the records start")
    holdout: float = Field(0.25, gt=0, lt=0.9, description="share of students held out for the metrics")
    min_students: int = Field(30, ge=10, description="refuse to train on fewer students with an outcome")
    seed: int = 0
    drift: Drift = Field(default_factory=Drift)
    follow_up_days: list[int] = Field(default_factory=lambda: [14, 28], min_length=2, max_length=2)
    comparison_band: float = Field(0.1, gt=0, le=1, description="comparable = risk within ± this at the same date")


class WarningsConfig(Section):
    schedule: Literal["hourly", "off"] = Field("hourly", description="scoring runs inside `cloud-aggregator run`")
    interval_min: float = Field(60.0, ge=1, le=24 * 60)
    first_run_delay_s: float = Field(120.0, ge=0, description="wait after start-up before the first scheduled run")
    dashboard_url: str = Field("http://127.0.0.1:8080", pattern=r"^https?://\S{1,300}$")
    students: StudentRules = Field(default_factory=StudentRules)
    tags: TagRules = Field(default_factory=TagRules)
    classes: ClassRules = Field(default_factory=ClassRules)
    freshness: Freshness = Field(default_factory=Freshness)
    routing: list[RouteRule] = Field(default_factory=lambda: [
        RouteRule(types=["academic", "submissions", "lms", "attendance"], min_level=1, roles=["teacher"]),
        RouteRule(types=["attendance"], min_level=2, roles=["advisor"]),
        RouteRule(types=["class_attention", "class_participation", "class_tone"], min_level=1, roles=["teacher"]),
        RouteRule(types=["risk"], min_level=2, roles=["advisor"]),
        RouteRule(types=[], min_level=3, roles=["counsellor"]),
    ])
    risk: RiskConfig = Field(default_factory=RiskConfig)
    retention: Retention = Field(default_factory=Retention)
    allow_parents: bool = Field(False, description="parents/guardians may be recipients (never by default)")
    names_for: list[Role] = Field(default_factory=_roles("advisor", "counsellor", "parent"),
                                  description="roles whose messages carry the student's name (others: pseudonym); "
                                  "the dashboard shows names to advisors and counsellors only")
    escalation: Escalation = Field(default_factory=Escalation)
    delivery: Delivery = Field(default_factory=Delivery)
    catalogue: dict[WarningType, dict[int, Intervention]] = Field(
        default_factory=dict, description="overrides of the built-in catalogue, per type and level (1–3)")

    @model_validator(mode="after")
    def _parents(self) -> WarningsConfig:
        uses = {r for rule in self.routing for r in rule.roles} | set(self.escalation.student_chain)
        if "parent" in uses and not self.allow_parents:
            raise ValueError("routing or escalation names 'parent' but allow_parents is false")
        for levels in self.catalogue.values():
            if not set(levels) <= {1, 2, 3}:
                raise ValueError("catalogue levels are 1, 2, 3")
        return self


def warnings_config(config: object) -> WarningsConfig:
    """The ``warnings`` section of an aggregator config, or defaults."""
    return section_of(config, "warnings", WarningsConfig)
