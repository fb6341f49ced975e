"""The IT fleet: devices, dead letters, commands, enrolment tokens, room moves, enrolment itself, ingest counters."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request

from cloud_aggregator import device_registry
from cloud_aggregator.device_certs import CsrError

from .. import auth, fleet
from ..deps import Web, role
from ..schemas.requests import ContractId, EnrolIn, Id, ModelUpdateIn, RoomIn, TokenIn
from ..schemas.responses.fleet import (
    DeadLettersOut,
    DeviceCommand,
    EnrolOut,
    FleetOut,
    IngestOut,
    MoveOut,
    SentCommand,
    TokenOut,
)
from . import THROTTLED

log = logging.getLogger(__name__)
router = APIRouter(tags=["fleet"])


@router.get("/api/fleet", response_model=FleetOut,
            summary="Devices: online, last seen, temperature, outbox, fps, models, policy")
def fleet_view(ctx: Web, user: auth.User = role("it")) -> dict[str, Any]:
    rows = fleet.fleet_rows(ctx.store, ctx.cfg)
    return {"devices": rows, "online": sum(r["online"] for r in rows), "total": len(rows)}


@router.get("/api/fleet/deadletters", response_model=DeadLettersOut,
            summary="Recent refused messages: device, time, reason, size, repeats (paged; never a payload body)")
def fleet_dead_letters(ctx: Web, limit: int = Query(20, ge=1, le=200), offset: int = Query(0, ge=0, le=10_000_000),
                       device: str | None = Query(None, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$"),
                       user: auth.User = role("it")) -> dict[str, Any]:
    return ctx.store.dead_letter_page(limit, offset, device)


@router.get("/api/fleet/commands", response_model=list[DeviceCommand])
def fleet_commands(ctx: Web, device: str | None = Query(None, max_length=64),
                   user: auth.User = role("it")) -> list[dict[str, Any]]:
    return fleet.commands(ctx.store, device)


@router.post("/api/fleet/tokens", response_model=TokenOut, status_code=201,
             summary="Issue a one-time enrolment token for a new device (shown once; only its hash is stored)")
def issue_token(body: TokenIn, ctx: Web, user: auth.User = role("it")) -> dict[str, Any]:
    ecfg = getattr(ctx.config, "enrolment", None)
    try:
        old = device_registry.check_token_request(ctx.store, body.device, body.site, body.room, body.rekey,
                                                  ctx.reserved, getattr(ecfg, "password_file", None))
    except device_registry.RegistryError as e:
        raise HTTPException(e.status, e.reason, headers={"X-Refusal": e.code}) from None
    token = ctx.store.issue_token(body.site, body.room, body.device, timedelta(hours=body.ttl_h))
    new = f"{body.site}/{body.room}/{body.device}"
    if body.rekey:
        ctx.audit(user, "rekey_device", [], f"{body.device}: old {json.dumps(old, sort_keys=True)}; new {new}, "
                                            f"token for {body.ttl_h} h")
    else:
        ctx.audit(user, "issue_enrolment_token", [], new)
    return {"token": token, "device": body.device, "site": body.site, "room": body.room,
            "expires_in_h": body.ttl_h, "rekey": body.rekey}


@router.put("/api/fleet/{device}/room", response_model=MoveOut,
            summary="Move a device to another room (the only way its room changes; audited, broker ACL updated)")
def move_device(device: ContractId, body: RoomIn, ctx: Web, user: auth.User = role("it")) -> dict[str, Any]:
    try:
        old = device_registry.move_device(ctx.store, device, body.site, body.room)
    except device_registry.RegistryError as e:
        raise HTTPException(e.status, e.reason, headers={"X-Refusal": e.code}) from None
    ctx.audit(user, "move_device", [], f"{device}: {old[0]}/{old[1]} -> {body.site}/{body.room}")
    reloaded = device_registry.sync_broker(ctx.store, getattr(ctx.config, "enrolment", None))
    return {"device": device, "site": body.site, "room": body.room,
            "previous": {"site": old[0], "room": old[1]}, "broker_reloaded": reloaded}


@router.post("/api/enrol", response_model=EnrolOut, response_model_exclude_unset=True,
             summary="A new device redeems its one-time token for broker credentials", responses=THROTTLED)
def enrol_device(body: EnrolIn, request: Request, ctx: Web) -> dict[str, Any]:
    from cloud_aggregator.enrolment import enrol
    from cloud_aggregator.store.base import TokenError

    ecfg = getattr(ctx.config, "enrolment", None)
    client = ctx.client_of(request)
    throttle = ctx.throttle
    refused = throttle.begin_enrol(client)
    if refused is not None:
        raise HTTPException(429, "too many enrolment attempts; wait and retry",
                            headers={"Retry-After": str(int(refused.retry_after_s) + 1)})
    try:
        out = enrol(ctx.store, body.token, ecfg, ctx.reserved, body.csr_pem) if ecfg is not None else None
    except TokenError as e:
        raise HTTPException(403, str(e)) from None
    except CsrError as e:  # a known token with a bad CSR: nothing redeemed or written, and not a guess
        throttle.enrol_succeeded(client)
        raise HTTPException(422, str(e)) from None
    except RuntimeError as e:  # not configured: the feature is absent here, not broken (no 5xx)
        throttle.enrol_succeeded(client)  # not a guess
        raise HTTPException(404, str(e)) from None
    throttle.enrol_succeeded(client)  # a good token, or no enrolment here: not a guess
    if out is None:
        raise HTTPException(404, "enrolment is not configured on this aggregator")
    log.warning("device %s enrolled in %s/%s from %s", out["device"], out["site"], out["room"], client)
    return out


@router.post("/api/fleet/{device}/model-update", response_model=SentCommand, status_code=202,
             summary="Push a model update command to a device")
def model_update(device: Id, body: ModelUpdateIn, ctx: Web, user: auth.User = role("it")) -> dict[str, Any]:
    rows = [d for d in ctx.store.devices() if d["device"] == device]
    if not rows:
        raise HTTPException(404, "no such device")
    if ctx.command_sender is None:
        raise HTTPException(503, "no MQTT connection configured for commands")
    try:
        res = ctx.command_sender.send(rows[0], "model_update", body.model_dump(), user.username)
    except OSError as e:
        raise HTTPException(503, f"broker unreachable: {e}") from e
    ctx.audit(user, "model_update", [], f"{device} {body.model} {body.version}")
    return res


@router.get("/api/ops/ingest", response_model=IngestOut, response_model_exclude_unset=True,
            summary="Ingest counters")
def ingest_stats(ctx: Web, user: auth.User = role("it", "admin")) -> dict[str, Any]:
    stats = dict(ctx.ingest.stats.__dict__) if ctx.ingest is not None else {}
    return {"ingest": stats, "sse_clients": ctx.hub.n_clients, "dead_letters": ctx.store.count("dead_letters")}
