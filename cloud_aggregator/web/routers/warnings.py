"""The counsellor's and teacher's warnings: the engine's stored cards, counts, actions on them, its runs."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, HTTPException, Query

from cloud_aggregator.store import db, now_iso, warning_deliveries, warning_log
from cloud_aggregator.store.analysable import analysable_students
from cloud_aggregator.store.risk_drift import latest_drift
from cloud_aggregator.store.risk_models import active_model
from cloud_aggregator.store.warning_runs import recent_runs
from cloud_aggregator.store.web_tables import WARNING_ACTIONS

from .. import auth, scope, students
from ..deps import Web, role
from ..schemas.requests import WarningActionIn
from ..schemas.responses.warnings import (
    ClassWarningsOut,
    WarningActionOut,
    WarningRunsOut,
    WarningsOut,
    WarningsSummary,
)

#: what the runs page shows of the active risk model (metrics and fairness decoded beside them)
MODEL_FIELDS = ("version", "kind", "created_at", "window_start", "window_end", "n_students", "train_s")

router = APIRouter(tags=["warnings"])


@router.get("/api/warnings", response_model=WarningsOut,
            summary="Your assigned students' warnings as the engine's last run stored them, one card each (audited)")
def warnings(ctx: Web, level: int | None = Query(None, ge=1, le=3),
             type: str | None = Query(None, max_length=20),  # noqa: A002
             state: str | None = Query(None, max_length=20),
             user: auth.User = role("advisor", "counsellor")) -> dict[str, Any]:
    ps = sorted(scope.visible_students(ctx.store, user))
    run = warning_log.last_run(ctx.store)
    cards = [c for c in students.warning_cards(ctx.store, ps) if (level is None or c["level"] == level)
             and (type is None or type in c["types"]) and (state is None or c["state"] == state)]
    nm = ctx.student_names([c["student"] for c in cards])
    for c in cards:
        c["name"] = nm.get(c["student"])
    ctx.audit(user, "view_warnings", [c["student"] for c in cards], f"{len(cards)} cards")
    return {"warnings": cards, "students": len(ps), "source": "engine", "run": warning_log.run_view(run),
            "note": None if run else "the warnings engine has not run yet: no warnings exist until its first "
                                     "run (scheduled hourly, or `cloud-aggregator warnings run`)"}


@router.get("/api/warnings/summary", response_model=WarningsSummary,
            summary="Warning counts by level and type (no names)")
def warnings_summary(ctx: Web, user: auth.User = role("advisor", "counsellor", "admin")) -> dict[str, Any]:
    store = ctx.store
    ps = sorted(scope.visible_students(store, user)) if user.role != "admin" else analysable_students(store)
    ws = warning_log.active_warnings(store, "student", ps)
    counts: dict[str, dict[str, int]] = {}
    for w in ws:
        counts.setdefault(str(w["level"]), {}).setdefault(w["type"], 0)
        counts[str(w["level"])][w["type"]] += 1
    return {"students": len(ps), "students_with_warnings": len({w["subject"] for w in ws}), "counts": counts,
            "engine_ran": warning_log.last_run(store) is not None}


@router.post("/api/warnings/{warning_id}/action", response_model=WarningActionOut, status_code=201,
             summary="Acknowledge or escalate a warning")
def warning_action(warning_id: str, body: WarningActionIn, ctx: Web,
                   user: auth.User = role("teacher", "advisor", "counsellor")) -> dict[str, Any]:
    store = ctx.store
    if len(warning_id) > 200 or warning_id.count(":") != 2:
        raise HTTPException(404, "no such warning")
    subject, wtype, _ = warning_id.split(":")
    is_class = wtype.startswith("class_")
    if user.role == "teacher":  # class warnings of their sections, and student warnings routed to them
        if is_class:
            ctx.check_section(user, subject)
        elif not warning_deliveries.sent_to(store, warning_id, user.staff_sourced_id or ""):
            raise HTTPException(403, "not a warning sent to you")
    elif is_class:
        raise HTTPException(403, "class warnings are acknowledged by their teacher")
    else:
        ctx.check_student(user, subject)
    if not warning_log.warning_stored(store, warning_id):  # scope first: no existence oracle
        raise HTTPException(404, "no such warning")
    pseudonym = None if is_class else subject
    db.insert(store, WARNING_ACTIONS, [{"id": db.new_id(), "warning_id": warning_id, "student_pseudonym": pseudonym,
                                        "by_user": user.username, "ts": now_iso(), "action": body.action,
                                        "note_enc": ctx.encrypt_note(body.note)}])
    ctx.audit(user, f"warning_{body.action}", [pseudonym] if pseudonym else [], warning_id)
    return {"warning_id": warning_id, "state": body.action}


@router.get("/api/warnings/runs", response_model=WarningRunsOut,
            summary="Recent scoring runs: counts, rules version, freshness")
def warning_runs(ctx: Web, limit: int = Query(20, ge=1, le=500),
                 user: auth.User = role("advisor", "counsellor", "admin")) -> dict[str, Any]:
    store = ctx.store
    rows = recent_runs(store, limit)
    for r in rows:
        r["stale_sources"] = [x for x in (r["stale_sources"] or "").split(",") if x]
    model = active_model(store)
    if model is not None:
        model = {k: model[k] for k in MODEL_FIELDS} | {"metrics": json.loads(model["metrics"] or "{}"),
                                                      "fairness": json.loads(model["fairness"] or "{}")}
    drift = latest_drift(store)
    if drift is not None:
        drift = {**drift, "psi": json.loads(drift["psi"] or "{}"), "flagged": bool(drift["flagged"])}
    return {"runs": rows, "deliveries": {k: int(n) for k, n in warning_deliveries.counts_by_status(store).items()},
            "risk_model": model, "rules_only": model is None, "drift": drift}


@router.get("/api/warnings/classes", response_model=ClassWarningsOut,
            summary="Class-level engagement warnings of your sections")
def class_warnings(ctx: Web, user: auth.User = role("teacher", "admin")) -> dict[str, Any]:
    secs = sorted(scope.visible_sections(ctx.store, user))
    return {"warnings": students.class_warnings(ctx.store, secs)}
