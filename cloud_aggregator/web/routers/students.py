"""A student's profile and the interventions recorded for them: their outcomes and measured effects."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, HTTPException

from cloud_aggregator.store import db, now_iso, warning_log
from cloud_aggregator.store.interventions import (
    intervention_student,
    record_intervention,
    record_outcome,
    student_effects,
    student_interventions,
)
from cloud_aggregator.warnings import risk

from .. import auth, students
from ..context import WebContext
from ..deps import Web, role
from ..schemas.requests import Id, InterventionIn, OutcomeIn
from ..schemas.responses import CreatedOut
from ..schemas.responses.students import EffectsOut, Intervention, OutcomeOut, Profile

router = APIRouter(tags=["warnings"])


def list_interventions(ctx: WebContext, pseudonym: str) -> list[dict[str, Any]]:
    rows = student_interventions(ctx.store, pseudonym)
    effects = {e["intervention_id"]: risk.effect_view(e) for e in student_effects(ctx.store, pseudonym)}
    return [{"id": r["id"], "warning_id": r["warning_id"], "by": r["by_user"], "created_at": r["created_at"],
             "kind": r["kind"], "note": ctx.decrypt_note(r["note_enc"]), "outcome": r["outcome"],
             "outcome_note": ctx.decrypt_note(r["outcome_note_enc"]), "outcome_at": r["outcome_at"],
             "effect": effects.get(r["id"])} for r in rows]


@router.get("/api/students/{pseudonym}", response_model=Profile, summary="A student's profile (audited)")
def student_profile(pseudonym: Id, ctx: Web, user: auth.User = role("advisor", "counsellor")) -> dict[str, Any]:
    ctx.check_student(user, pseudonym)
    prof = students.profile(ctx.store, pseudonym, ctx.wcfg)
    prof["name"] = ctx.student_names([pseudonym]).get(pseudonym)
    prof["interventions"] = list_interventions(ctx, pseudonym)
    ctx.audit(user, "view_profile", [pseudonym])
    return prof


@router.get("/api/interventions/effects", response_model=EffectsOut,
            summary="Risk change after interventions, per kind, vs comparable students without one (not causal)")
def intervention_effects(ctx: Web, user: auth.User = role("advisor", "counsellor", "admin")) -> dict[str, Any]:
    return {"by_kind": risk.effect_summary(ctx.store),
            "caveat": "Observational: students who got an intervention were chosen for a reason, so the "
                      "difference is not the intervention's causal effect (see docs/warnings.md)."}


@router.get("/api/students/{pseudonym}/interventions", response_model=list[Intervention])
def interventions(pseudonym: Id, ctx: Web, user: auth.User = role("advisor", "counsellor")) -> list[dict[str, Any]]:
    ctx.check_student(user, pseudonym)
    ctx.audit(user, "view_interventions", [pseudonym])
    return list_interventions(ctx, pseudonym)


@router.post("/api/students/{pseudonym}/interventions", response_model=CreatedOut, status_code=201,
             summary="Record an intervention")
def add_intervention(pseudonym: Id, body: InterventionIn, ctx: Web,
                     user: auth.User = role("advisor", "counsellor")) -> dict[str, Any]:
    ctx.check_student(user, pseudonym)
    if body.warning_id is not None and not body.warning_id.startswith(pseudonym + ":"):
        raise HTTPException(422, "warning_id belongs to another student")
    if body.warning_id is not None and not warning_log.warning_stored(ctx.store, body.warning_id):
        raise HTTPException(404, "no such warning")
    if body.at is not None and body.at > datetime.now(timezone.utc).date():
        raise HTTPException(422, "an intervention cannot be recorded for a future day")
    iid = db.new_id()
    when = now_iso() if body.at is None else f"{body.at.isoformat()}T12:00:00Z"
    record_intervention(ctx.store, {"id": iid, "student_pseudonym": pseudonym, "warning_id": body.warning_id,
                                    "by_user": user.username, "created_at": when, "kind": body.kind,
                                    "note_enc": ctx.encrypt_note(body.note), "outcome": None,
                                    "outcome_note_enc": None, "outcome_at": None})
    ctx.audit(user, "add_intervention", [pseudonym], body.kind)
    return {"id": iid}


@router.put("/api/interventions/{intervention_id}/outcome", response_model=OutcomeOut,
            summary="Record an intervention's outcome")
def intervention_outcome(intervention_id: Id, body: OutcomeIn, ctx: Web,
                         user: auth.User = role("advisor", "counsellor")) -> dict[str, Any]:
    pseudonym = intervention_student(ctx.store, intervention_id)
    if pseudonym is None:
        raise HTTPException(404, "no such intervention")
    ctx.check_student(user, pseudonym)
    record_outcome(ctx.store, intervention_id, body.outcome, ctx.encrypt_note(body.note), now_iso())
    ctx.audit(user, "intervention_outcome", [pseudonym], body.outcome)
    return {"id": intervention_id, "outcome": body.outcome}
