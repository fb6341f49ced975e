"""The teacher's live view (sections, the current lesson, the assistant, live events) and the rooms overview."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from cloud_aggregator.store import db, iso, now_iso
from cloud_aggregator.store.aggregates import latest_sections_per_room
from cloud_aggregator.store.assistant_feedback import add_feedback, feedback_counts, rules_answered_since

from .. import assistant, auth, live, scope
from ..context import WebContext
from ..deps import Web, current_user, role
from ..schemas.requests import FeedbackIn, Id
from ..schemas.responses import CreatedOut
from ..schemas.responses.live import AssistantOut, FeedbackCount, LiveOut, RoomWindow, Window

SSE_KEEPALIVE_S = 15.0
router = APIRouter(tags=["live"])


@router.get("/api/sections", response_model=dict[str, str],
            summary="Sections whose class-level engagement you may see")
def sections(ctx: Web, user: auth.User = role("teacher", "admin")) -> dict[str, str]:
    return live.section_titles(ctx.store, scope.visible_sections(ctx.store, user))


@router.get("/api/live", response_model=LiveOut,
            summary="The current lesson of your sections: state, windows so far, usual level")
def live_now(ctx: Web, user: auth.User = role("teacher")) -> dict[str, Any]:
    return live.teacher_live(ctx.store, ctx.cfg, scope.visible_sections(ctx.store, user))


@router.get("/api/sections/{section_id}/live", response_model=LiveOut, summary="Live state of one section")
def section_live(section_id: Id, ctx: Web, user: auth.User = role("teacher", "admin")) -> dict[str, Any]:
    ctx.check_section(user, section_id)
    return live.teacher_live(ctx.store, ctx.cfg, {section_id})


def quiet_rules(ctx: WebContext, session_id: str, now: datetime) -> set[str]:
    since = iso(now - timedelta(minutes=ctx.cfg.assistant.cooldown_min))
    return rules_answered_since(ctx.store, session_id, since)


@router.get("/api/sections/{section_id}/assistant", response_model=AssistantOut,
            summary="The teaching assistant's current suggestion for the section's running lesson (or null)")
def section_assistant(section_id: Id, ctx: Web, user: auth.User = role("teacher")) -> dict[str, Any]:
    ctx.check_section(user, section_id)
    now = datetime.now(timezone.utc)
    state = live.teacher_live(ctx.store, ctx.cfg, {section_id}, now)
    if state["state"] != "live":
        return {"suggestion": None, "state": state["state"]}
    ses = state["lesson"]["session_id"]
    s = assistant.suggest(ctx.cfg.assistant, state["windows"], state["usual"], ses, quiet_rules(ctx, ses, now))
    return {"suggestion": s.to_dict() if s else None, "state": "live", "session_id": ses}


@router.post("/api/assistant/feedback", response_model=CreatedOut, status_code=201,
             summary="Mark a suggestion useful or dismiss it (stored to tune the rules)")
def assistant_feedback(body: FeedbackIn, ctx: Web, user: auth.User = role("teacher")) -> dict[str, Any]:
    ctx.check_section(user, body.section_id)
    fid = db.new_id()
    add_feedback(ctx.store, {"id": fid, "ts": now_iso(), "username": user.username,
                                                "section_id": body.section_id, "session_id": body.session_id,
                                                "rule_id": body.rule_id, "verdict": body.verdict,
                                                "value": body.value, "usual": body.usual})
    return {"id": fid}


@router.get("/api/assistant/feedback/summary", response_model=list[FeedbackCount],
            summary="Feedback counts per rule (for tuning)")
def feedback_summary(ctx: Web, user: auth.User = role("admin")) -> list[dict[str, Any]]:
    return feedback_counts(ctx.store)


@router.get("/api/rooms/latest", response_model=list[RoomWindow],
            summary="Latest window per room (school admin overview)")
def rooms_latest(ctx: Web, user: auth.User = role("admin")) -> list[dict[str, Any]]:
    rows = ctx.store.latest_per_room()
    names = live.room_names(ctx.store)
    sec = latest_sections_per_room(ctx.store)
    titles = live.section_titles(ctx.store, {s for s in sec.values() if s})
    out = []
    for p in rows:
        sid = sec.get((p["site"], p["room"]))
        out.append({**live.window_view(p, ctx.cfg.zone_k), "site": p["site"], "room": p["room"],
                    "room_name": names.get((p["site"], p["room"])), "section_id": sid,
                    "section_title": titles.get(sid) if sid else None})
    return out


@router.get("/api/rooms/{room}/aggregates", response_model=list[Window], summary="A room's windows (school admin)")
def room_history(room: Id, ctx: Web, since: str = Query("0000", max_length=40),
                 until: str | None = Query(None, max_length=40),
                 user: auth.User = role("admin")) -> list[dict[str, Any]]:
    return [live.window_view(p, ctx.cfg.zone_k) for p in ctx.store.room_aggregates(room, since, until)]


@router.get("/api/events", response_class=StreamingResponse,
            summary="Server-sent events: 'agg' for each stored window you may see",
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "an endless stream of `agg` events (and keep-alive comments)"}})
async def events(request: Request, ctx: Web) -> StreamingResponse:
    user = current_user(request)
    if user.role not in ("teacher", "admin"):
        raise HTTPException(403, "no live stream for this role")
    allowed = await run_in_threadpool(scope.visible_sections, ctx.store, user)
    hub = ctx.hub
    client = hub.subscribe((lambda s: True) if user.role == "admin" else (lambda s: s is not None and s in allowed))

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 2000\n\n: connected\n\n"
            while not await request.is_disconnected():
                try:
                    yield await asyncio.wait_for(client.queue.get(), timeout=SSE_KEEPALIVE_S)
                except asyncio.TimeoutError:
                    yield ": keep-alive\n\n"
        finally:
            hub.unsubscribe(client)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
