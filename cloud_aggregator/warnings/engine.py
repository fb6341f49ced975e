"""Scoring runs: records → warnings (levels, reasons, tags, intervention) → routing → outbox → escalation.

One run reads the records and the class aggregates, writes every current warning to
``warning_log`` (one row per id, updated in place), routes new ones, escalates unacknowledged
ones, sends what is due and records itself in ``warning_runs`` with its rules version, counts
and each source's freshness. Each warning type is computed as of its own source's latest date;
a source older than its configured age is *stale*: its warnings carry the flag and the date, and
its types are not "resolved" for lack of fresh data, so stale never reads as low risk.
Opted-out (or disabled) students are never scored.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from cloud_aggregator.config.warnings import RULE_TYPES, TYPE_SOURCE, WarningsConfig
from cloud_aggregator.store import db, iso, now_iso, warning_deliveries, warning_escalations, warning_log
from cloud_aggregator.store.analysable import analysable_students, excluded_students
from cloud_aggregator.store.db import ensure_web_tables
from cloud_aggregator.store.source_freshness import latest_days
from cloud_aggregator.store.warning_runs import record_run

from . import catalogue, delivery, freshness, risk, routing
from .classlevel import class_findings
from .student_rules import (
    Indicators,
    _minus,
    as_of_date,
    cohort_lms_median,
    indicators,
    iso_week,
    rule_warnings,
)
from .tags import student_tags

if TYPE_CHECKING:
    from cloud_aggregator.store import Store

log = logging.getLogger(__name__)
RULES_VERSION = "rules-1"
#: which Indicators fields each student warning type is computed from
TYPE_FIELDS = {"attendance": ("att_recent", "att_term", "late_recent"),
               "submissions": ("missing_recent", "ontime_recent", "ontime_term"),
               "academic": ("score_recent", "score_term"), "lms": ("lms_recent_wk", "lms_before_wk")}


def rules_version(cfg: WarningsConfig) -> str:
    """Changes whenever a threshold does, so every run says which rules produced its warnings."""
    blob = json.dumps([cfg.students.model_dump(), cfg.tags.model_dump(), cfg.classes.model_dump()], sort_keys=True)
    return f"{RULES_VERSION}+{hashlib.sha256(blob.encode()).hexdigest()[:8]}"


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def _first(xs: list[str] | None) -> str | None:
    """A student's section when the warning's own data names none (e.g. risk with no recent results)."""
    return xs[0] if xs else None


def _merged_indicators(store: Store, students: list[str], as_of: dict[str, str], days: int) -> dict[str, Indicators]:
    """Each type's indicator fields computed as of that type's source date (one query set per distinct date)."""
    merged = {p: Indicators(p) for p in students}
    by_date: dict[str, list[str]] = {}
    for t, d in as_of.items():
        by_date.setdefault(d, []).append(t)
    for d, types in by_date.items():
        for p, ind in indicators(store, students, d, days).items():
            for t in types:
                for f in TYPE_FIELDS[t]:
                    setattr(merged[p], f, getattr(ind, f))
    return merged


def type_dates(latest: dict[str, str | None], today: str) -> dict[str, str]:
    """Each rule type's as-of day: its own source's latest date, never after today; types without data are absent."""
    return {t: min(d, today) for t in RULE_TYPES if (d := latest.get(TYPE_SOURCE[t]))}


def student_indicators(store: Store, students: list[str], today: str, days: int,
                       latest: dict[str, str | None] | None = None
                       ) -> tuple[dict[str, Indicators], dict[str, str], float | None]:
    """(indicators, each type's as-of day, cohort LMS median): what the rules, the tags and the student profile
    all read, so a tag never says what the profile contradicts."""
    dates = type_dates(latest_days(store) if latest is None else latest, today)
    median = cohort_lms_median(store, dates["lms"]) if "lms" in dates else None
    return _merged_indicators(store, students, dates, days), dates, median


def current_warnings(store: Store, cfg: WarningsConfig, now: datetime,  # noqa: ANN401, C901, PLR0913
                     fresh: dict[str, freshness.SourceFreshness], am: risk.ActiveModel | None = None,
                     scored: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], set[str], list[str]]:
    """(warning rows, types evaluated, students scored) as of ``now``; nothing is written. With a risk model
    (``am``) each student also gets a ``risk`` warning when the score reaches a level; ``scored`` receives the
    features and scores (for the drift check)."""
    today = now.date().isoformat()
    r_asof = min(as_of_date(store), today)
    current, enrolled = routing.current_sections(store, r_asof)
    # students enrolled on the day (or with no enrolments recorded at all): not those who withdrew or finished
    students = [p for p in analysable_students(store) if p in current or p not in enrolled]
    days = cfg.students.recent_days
    week = iso_week(min(as_of_date(store), today))  # the dashboard's week, so its acknowledgements match
    inds, type_asof, median = student_indicators(store, students, today, days, {s: f.latest for s, f in fresh.items()})
    rows: list[dict[str, Any]] = []
    by_type: dict[str, list[dict[str, Any]]] = {}
    tags_of: dict[str, list[dict[str, Any]]] = {}
    for p in students:
        ind = inds[p]
        tags = tags_of[p] = [t.to_dict() for t in student_tags(ind, cfg.tags, median, days)]
        for w in rule_warnings(ind, week, cfg.students):
            if w.type not in type_asof:
                continue
            src = fresh[TYPE_SOURCE[w.type]]
            row = {"id": w.id, "scope": "student", "subject": p, "section_id": None, "type": w.type, "level": w.level,
                   "reasons": w.to_dict()["reasons"], "tags": tags, "stale": src.stale,
                   "stale_sources": src.source if src.stale else "", "data_as_of": type_asof[w.type]}
            rows.append(row)
            by_type.setdefault(w.type, []).append(row)
    for t, rs in by_type.items():
        focus = routing.focus_sections(store, t, [r["subject"] for r in rs], _minus(type_asof[t], days), type_asof[t])
        for r in rs:
            r["section_id"] = focus.get(r["subject"]) or _first(current.get(r["subject"]))
    evaluated = set(type_asof)
    if am is not None and type_asof:
        stale = sorted(s for s in ("attendance", "submissions", "results", "lms") if fresh[s].stale)
        rrows, df, scores = risk.score_rows(store, cfg, am, students, r_asof, week)
        focus = routing.focus_sections(store, "academic", [r["subject"] for r in rrows], _minus(r_asof, days), r_asof)
        for r in rrows:
            r.update(tags=tags_of.get(r["subject"], []), stale=bool(stale), stale_sources=",".join(stale),
                     data_as_of=r_asof, section_id=focus.get(r["subject"]) or _first(current.get(r["subject"])))
            r.pop("score")
        rows += rrows
        evaluated.add("risk")
        if scored is not None:
            scored.update(df=df, scores=scores, as_of=r_asof)
    agg = fresh["aggregates"]
    if agg.latest:
        anchor = min(now, datetime.fromisoformat(agg.latest + "T23:59:59+00:00"))
        cweek = iso_week(anchor.date().isoformat())
        for f in class_findings(store, cfg.classes, anchor):
            rows.append({"id": f"{f.section}:{f.type}:{cweek}", "scope": "section", "subject": f.section,
                         "section_id": f.section, "type": f.type, "level": f.level, "reasons": f.reasons(), "tags": [],
                         "stale": agg.stale, "stale_sources": "aggregates" if agg.stale else "",
                         "data_as_of": agg.latest})
        evaluated |= {"class_attention", "class_participation", "class_tone"}
    for r in rows:
        r["intervention"] = catalogue.recommend(cfg, r["type"], r["level"]).model_dump()
    return rows, evaluated, students


def _route(store: Store, cfg: WarningsConfig, row: dict[str, Any], roles: list[str], step: int,  # noqa: ANN401
           now: datetime, counts: dict[str, int]) -> int:
    n = 0
    for role in roles:
        rcpts = routing.resolve(store, cfg, role, row["scope"], row["subject"], row["section_id"])
        if not rcpts:
            counts["no_recipient"] = counts.get("no_recipient", 0) + 1
        n += delivery.enqueue(store, cfg, row["id"], step, rcpts, now)
    return n


def _store_warnings(store: Store, cfg: WarningsConfig, run_id: str, rows: list[dict[str, Any]],  # noqa: ANN401, C901
                    evaluated: set[str], students: list[str], now: datetime, counts: dict[str, int]) -> None:
    ids = [r["id"] for r in rows]
    existing = warning_log.warnings_by_id(store, ids)
    out = []
    for r in rows:
        e = existing.get(r["id"])
        base = {"id": r["id"], "scope": r["scope"], "subject": r["subject"], "section_id": r["section_id"],
                "type": r["type"], "level": r["level"], "reasons": r["reasons"], "tags": r["tags"],
                "intervention": r["intervention"], "stale": r["stale"], "stale_sources": r["stale_sources"],
                "data_as_of": r["data_as_of"], "last_run": run_id, "last_seen": iso(now), "active": 1}
        if e is None:
            roles = routing.initial_roles(cfg, r["type"], r["level"])
            step = routing.step_of(cfg, r["type"], roles)
            base.update(level_max=r["level"], first_run=run_id, first_seen=iso(now), step=step,
                        step_role=routing.chain_for(cfg, r["type"])[step] if step >= 0 else None,
                        routed_at=iso(now), state="open")
            out.append(base)
            counts["deliveries_queued"] += _route(store, cfg, r, roles, 0, now, counts)
            counts["new"] += 1
            continue
        base.update(level_max=max(int(e["level_max"] or 0), r["level"]), first_run=e["first_run"],
                    first_seen=e["first_seen"], step=e["step"], step_role=e["step_role"], routed_at=e["routed_at"],
                    state="open" if e["state"] == "resolved" else e["state"])
        if r["level"] > int(e["level_max"] or 0):  # worse than ever: tell the roles this level adds
            had = warning_deliveries.roles_queued(store, r["id"])
            roles = [x for x in routing.initial_roles(cfg, r["type"], r["level"]) if x not in had]
            step = max(int(e["step"] if e["step"] is not None else -1), routing.step_of(cfg, r["type"], roles))
            base.update(step=step, step_role=routing.chain_for(cfg, r["type"])[step] if step >= 0 else None)
            counts["deliveries_queued"] += _route(store, cfg, r, roles, 0, now, counts)
            counts["raised"] += 1
        out.append(base)
    warning_log.save_warnings(store, out)
    # warnings of evaluated types that did not come back are resolved; opted-out students' are suppressed
    current, scored = set(ids), set(students)
    for e in warning_log.active_summaries(store):
        if e["id"] in current or e["type"] not in evaluated:
            continue
        state = e["state"]
        if e["scope"] == "student" and e["subject"] not in scored:
            state = "suppressed"
        elif state == "open":
            state = "resolved"
        warning_log.deactivate(store, e["id"], state)
        counts["resolved"] += 1


def escalate(store: Store, cfg: WarningsConfig, now: datetime | None = None) -> int:
    """Acknowledged warnings stop; unacknowledged ones past ``escalation.after_h`` (or escalated by hand in the
    dashboard) go to the next role in their chain. Returns the number escalated."""
    now = now or datetime.now(timezone.utc)
    ensure_web_tables(store)
    rows = warning_log.open_warnings(store)
    states = warning_log.warning_states(store, [r["id"] for r in rows])
    n = 0
    for r in rows:
        act = states.get(r["id"])
        if act and act["state"] == "acknowledge":
            warning_log.set_state(store, r["id"], "acknowledged")
            continue
        manual = bool(act and act["state"] == "escalate" and act["at"] > (r["routed_at"] or ""))
        due = _parse(r["routed_at"]) + timedelta(hours=cfg.escalation.after_h) <= now
        if not (manual or due):
            continue
        step = int(r["step"] if r["step"] is not None else -1)
        nxt = routing.next_role(cfg, r["type"], step)
        if nxt is None:
            warning_log.set_state(store, r["id"], "exhausted")
            continue
        k = warning_escalations.escalation_count(store, r["id"]) + 1
        _route(store, cfg, r, [nxt], k, now, {})
        warning_escalations.record_escalation(store, r["id"], now, r["step_role"], nxt,
                                              "manual" if manual else "timeout")
        warning_log.move_step(store, r["id"], routing.chain_for(cfg, r["type"]).index(nxt), nxt, now)
        n += 1
    return n


def run(store: Store, cfg: WarningsConfig, keys: Any = None, now: datetime | None = None,  # noqa: ANN401
        trigger: str = "cli", deliver: bool = True) -> dict[str, Any]:
    """One scoring run; returns what ``warning_runs`` records (counts, freshness, stale sources)."""
    now = now or datetime.now(timezone.utc)
    ensure_web_tables(store)
    run_id, started = db.new_id(), now_iso()
    am = risk.active(store) if cfg.risk.enabled else None
    version = rules_version(cfg) + (f"+{am.version}" if am else "")
    counts: dict[str, Any] = {k: 0 for k in ("new", "raised", "resolved", "deliveries_queued", "escalated")}
    counts["risk_model"] = {"version": am.version, "kind": am.model.kind} if am else {
        "version": None, "note": "no trained risk model: rules only (cloud-aggregator warnings train)"
        if cfg.risk.enabled else "risk model disabled in config: rules only"}
    scored: dict[str, Any] = {}
    fresh: dict[str, freshness.SourceFreshness] = {}
    error = None
    try:
        fresh = freshness.assess(latest_days(store), now, cfg.freshness)
        rows, evaluated, students = current_warnings(store, cfg, now, fresh, am, scored)
        _store_warnings(store, cfg, run_id, rows, evaluated, students, now, counts)
        if am is not None and scored:
            counts["risk_model"]["scored"] = len(scored["df"])
            if risk.drift_due(store, cfg, now):
                d = risk.check_drift(store, cfg, am, scored["df"], scored["scores"], run_id, scored["as_of"], now)
                counts["drift"] = {k: d[k] for k in ("max_psi", "score_psi", "flagged", "action", "new_version",
                                                      "baseline")}
            counts["effects_computed"] = risk.intervention_effects(store, cfg, am, now)
        counts["escalated"] = escalate(store, cfg, now)
        counts["delivered"] = delivery.send_pending(store, cfg, keys, now) if deliver else {}
        counts.update(students=len(students),
                      opted_out=len(excluded_students(store)),
                      warnings=len(rows), stale_warnings=sum(1 for r in rows if r["stale"]),
                      by_level={str(lv): sum(1 for r in rows if r["level"] == lv) for lv in (1, 2, 3)},
                      by_type={t: sum(1 for r in rows if r["type"] == t) for t in sorted({r["type"] for r in rows})},
                      as_of=iso(now))
    except Exception as e:
        error = f"{type(e).__name__}: {e}"[:1000]
        raise
    finally:
        stale = sorted(s for s, f in fresh.items() if f.stale)
        rec = {"run_id": run_id, "started_at": started, "finished_at": now_iso(), "trigger": trigger,
               "version": version, "counts": json.dumps(counts, sort_keys=True),
               "freshness": json.dumps({s: f.to_dict() for s, f in fresh.items()}, sort_keys=True),
               "stale_sources": ",".join(stale), "error": error}
        record_run(store, rec)
    return {**rec, "counts": counts, "freshness": {s: f.to_dict() for s, f in fresh.items()}, "stale_sources": stale}


def tick(store: Store, cfg: WarningsConfig, keys: Any = None, now: datetime | None = None) -> dict[str, Any]:  # noqa: ANN401
    """Between runs: escalate what is due and send/retry the outbox."""
    now = now or datetime.now(timezone.utc)
    return {"escalated": escalate(store, cfg, now), "delivered": delivery.send_pending(store, cfg, keys, now)}

