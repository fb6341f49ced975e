"""The engine's stored warnings as the counsellor and teacher pages show them, and its runs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from . import Out

#: JSON the engine stored with a warning, passed through as it is (a row written by an older engine may lack a key)
Reasons = Annotated[list[dict[str, Any]], Field(description="[{key, params}]: i18n key and its numbers, most "
                                                            "important first")]
Tags = Annotated[list[dict[str, Any]], Field(description="[{id, label, evidence_key, evidence}]")]
Recommended = Annotated[dict[str, Any] | None,
                        Field(description="the catalogue's intervention: {id, text, resource}")]


class RunView(Out):
    """The scoring run a page shows: when, which rules, whether it failed, what was stale."""

    run_id: str
    started_at: str
    finished_at: str | None
    version: str | None
    error: str | None
    stale_sources: list[str]


class WarningMember(Out):
    """One stored warning as the engine wrote it, with the latest staff action on it."""

    id: str
    type: str
    level: int
    level_name: str
    reasons: Reasons
    intervention: Recommended
    stale: bool
    stale_sources: list[str]
    data_as_of: str | None
    routed_to: str | None
    engine_state: str | None
    state: str
    by: str | None
    at: str | None


class ClassWarning(WarningMember):
    section: str


class WarningCard(Out):
    """One student's card: the rule warnings and the risk model's side by side."""

    student: str
    id: str
    level: int
    level_name: str
    ids: list[str]
    types: list[str]
    rules: list[WarningMember]
    model: WarningMember | None
    tags: Tags
    intervention: Recommended
    stale: bool
    stale_sources: list[str]
    data_as_of: str | None
    state: str
    by: str | None


class NamedWarningCard(WarningCard):
    name: dict[str, str] | None = Field(description="decrypted name parts; null without the records key")


class WarningsOut(Out):
    warnings: list[NamedWarningCard]
    students: int
    source: Literal["engine"]
    run: RunView | None
    note: str | None


class WarningsSummary(Out):
    students: int
    students_with_warnings: int
    counts: dict[str, dict[str, int]] = Field(description="level → warning type → number of warnings")
    engine_ran: bool


class WarningActionOut(Out):
    warning_id: str
    state: str


class WarningRun(Out):
    run_id: str
    started_at: str
    finished_at: str | None
    trigger: str | None
    version: str | None
    counts: dict[str, Any]
    freshness: dict[str, Any]
    stale_sources: list[str]
    error: str | None


class RiskModel(Out):
    version: str
    kind: str | None
    created_at: str | None
    window_start: str | None
    window_end: str | None
    n_students: int | None
    metrics: dict[str, Any]
    fairness: dict[str, Any]
    train_s: float | None


class RiskDrift(Out):
    id: str
    ts: str | None
    run_id: str | None
    model_version: str | None
    data_as_of: str | None
    psi: dict[str, Any]
    score_psi: float | None
    max_psi: float | None
    flagged: bool
    action: str | None
    new_version: str | None


class WarningRunsOut(Out):
    runs: list[WarningRun]
    deliveries: dict[str, int] = Field(description="delivery status → number of deliveries")
    risk_model: RiskModel | None
    rules_only: bool
    drift: RiskDrift | None


class ClassWarningsOut(Out):
    warnings: list[ClassWarning]
