"""The teacher's live view: which lesson is on now, its windows so far, the section's usual level.

"Now" is decided exactly as ingest tags windows (``timetable.find_session`` over the room's
slots), so the lesson the page shows is the one the aggregates are filed under. States the page
must tell apart: ``outside`` (no lesson of this teacher now), ``offline`` (the room's device is
not reporting), ``no_data`` (in class, device up, no window yet) and ``live``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from classpulse_contract.participation import measured_participation
from cloud_aggregator.config.web import DashboardConfig
from cloud_aggregator.store import iso
from cloud_aggregator.store.live_reads import recent_section_windows, room_devices
from cloud_aggregator.store.sections import section_titles as stored_titles
from cloud_aggregator.timetable import SectionSession, find_session

if TYPE_CHECKING:
    from cloud_aggregator.store import Store

#: what the live view sends per window (a subset of the contract's Aggregate)
WINDOW_FIELDS = ("msg_id", "device", "window_start", "window_end", "policy", "n_faces", "attention_share",
                 "engagement", "hand_raises", "speech_share", "teacher_talk_share", "speech_turns", "tone_mix",
                 "zones", "quality")


def zone_of(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _dt(x: Any) -> datetime:  # noqa: ANN401
    return x if isinstance(x, datetime) else datetime.fromisoformat(str(x).replace("Z", "+00:00"))


def window_view(payload: dict[str, Any], zone_k: int) -> dict[str, Any]:
    """One window for the page: participation derived as on the edge, zones under k faces blanked."""
    w = {k: payload.get(k) for k in WINDOW_FIELDS}
    span = (_dt(payload["window_end"]) - _dt(payload["window_start"])).total_seconds()
    w["participation"] = measured_participation(payload.get("hand_raises"), payload.get("n_faces"), span)
    w["coverage_flags"] = payload.get("coverage_flags") or []  # contract 1.1: which signals were not measured
    if payload.get("policy") != "full":
        w["tone_mix"] = None
    if w["zones"]:
        k = max(zone_k, int(payload.get("k_anonymity") or zone_k))
        w["zones"] = [{"zone": z["zone"], "n_faces": z["n_faces"],
                       "attention_share": z.get("attention_share") if z["n_faces"] >= k else None}
                      for z in w["zones"]]
    return w


def session_bounds(s: SectionSession, tz: str) -> tuple[datetime, datetime]:
    z = zone_of(tz)
    start = datetime.fromisoformat(f"{s.date}T{s.start_local}").replace(tzinfo=z)
    end = datetime.fromisoformat(f"{s.date}T{s.end_local}").replace(tzinfo=z)
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


def _slots_by_room(store: Store) -> dict[tuple[str, str], list[dict[str, Any]]]:  # noqa: ANN401
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for s in store.timetable_slots():
        out.setdefault((s["site"], s["room"]), []).append(s)
    return out


def current_lesson(store: Store, sections: set[str], now: datetime) -> tuple[SectionSession, str, str, str] | None:
    """(session, site, room, tz) of the lesson of one of ``sections`` running now, if any."""
    tzs = {r["site"]: r["timezone"] or "UTC" for r in store.sites()}
    terms = store.term_dates()
    for (site, room), slots in _slots_by_room(store).items():
        if not any(s["section_sourced_id"] in sections for s in slots):
            continue
        tz = tzs.get(site, "UTC")
        s = find_session(slots, tz, terms, site, room, now, now + timedelta(seconds=1))
        if s is not None and s.section_id in sections:
            return s, site, room, tz
    return None


def next_lesson(store: Store, sections: set[str], now: datetime, days: int = 7) -> dict[str, Any] | None:  # noqa: ANN401
    """The next slot of ``sections`` within a week (local date and time), for the 'outside class' state."""
    tzs = {r["site"]: r["timezone"] or "UTC" for r in store.sites()}
    best: tuple[datetime, dict[str, Any]] | None = None
    for s in store.timetable_slots():
        if s["section_sourced_id"] not in sections:
            continue
        z = zone_of(tzs.get(s["site"], "UTC"))
        local = now.astimezone(z)
        for d in range(days + 1):
            day = (local + timedelta(days=d)).date()
            if day.isoweekday() != int(s["weekday"]):
                continue
            start = datetime.fromisoformat(f"{day.isoformat()}T{s['start_time']}").replace(tzinfo=z)
            if start > local and (best is None or start < best[0]):
                best = (start, s)
    if best is None:
        return None
    start, s = best
    return {"section_id": s["section_sourced_id"], "site": s["site"], "room": s["room"],
            "start_local": start.strftime("%Y-%m-%d %H:%M"), "weekday": int(s["weekday"]), "period": s["period"]}


def device_state(store: Store, site: str, room: str, cfg: DashboardConfig, now: datetime) -> dict[str, Any]:  # noqa: ANN401
    rows = room_devices(store, site, room)
    if not rows:
        return {"state": "none", "device": None, "last_seen": None}
    r = max(rows, key=lambda x: x["last_seen"] or "")
    stale = not r["last_seen"] or r["last_seen"] < iso(now - timedelta(seconds=cfg.offline_after_s))
    return {"state": "offline" if r["state"] == "offline" or stale else "online", "device": r["device"],
            "last_seen": r["last_seen"]}


def usual_level(store: Store, section_id: str, exclude_session: str | None, n_sessions: int) -> dict[str, Any]:  # noqa: ANN401
    """Mean per-session level of the section's last ``n_sessions`` lessons (raw windows, then rollups)."""
    rows = recent_section_windows(store, section_id, n_sessions * 120)
    per: dict[str, dict[str, list[float]]] = {}
    order: list[str] = []
    for r in rows:
        sid = r["session_id"]
        if sid == exclude_session:
            continue
        if sid not in per:
            if len(order) >= n_sessions:
                continue
            order.append(sid)
            per[sid] = {"attention_share": [], "engagement": [], "participation": [], "speech_share": []}
        span = (_dt(r["window_end"]) - _dt(r["window_start"])).total_seconds()
        part = measured_participation(r["hand_raises"], r["n_faces"], span)
        if part is not None:
            per[sid]["participation"].append(part)
        for k in ("attention_share", "engagement", "speech_share"):
            if r[k] is not None:
                per[sid][k].append(float(r[k]))
    if len(order) < n_sessions:
        for r in store.section_sessions(section_id)[::-1]:
            sid = r["session_id"]
            if sid in per or sid == exclude_session or len(order) >= n_sessions:
                continue
            order.append(sid)
            per[sid] = {"attention_share": [r["attention_mean"]] if r["attention_mean"] is not None else [],
                        "engagement": [r["engagement_mean"]] if r["engagement_mean"] is not None else [],
                        "speech_share": [r["speech_mean"]] if r["speech_mean"] is not None else [],
                        "participation": []}
    out: dict[str, Any] = {"n_sessions": len(order)}
    for k in ("attention_share", "engagement", "participation", "speech_share"):
        means = [sum(v[k]) / len(v[k]) for v in per.values() if v[k]]
        out[k] = sum(means) / len(means) if means else None
    return out


def section_titles(store: Store, sections: set[str]) -> dict[str, str]:
    """Title (its id when it has none) of each of ``sections`` the records know."""
    return {s: title or s for s, title in stored_titles(store, sorted(sections)).items()}


def room_names(store: Store) -> dict[tuple[str, str], str]:
    """(site, room) → the room's name from devices.yaml (the tablet shows names, never raw ids, where one exists)."""
    return {(r["site"], r["room"]): r["name"] for r in store.rooms() if r.get("name")}


def teacher_live(store: Store, cfg: DashboardConfig, sections: set[str], now: datetime | None = None
                 ) -> dict[str, Any]:
    """Everything the live page needs on load; later windows arrive by server-sent events."""
    now = now or datetime.now(timezone.utc)
    out: dict[str, Any] = {"now": iso(now), "sections": section_titles(store, sections), "zone_k": cfg.zone_k}
    cur = current_lesson(store, sections, now)
    if cur is None:
        out.update(state="outside", lesson=None, next=next_lesson(store, sections, now))
        return out
    s, site, room, tz = cur
    start, end = session_bounds(s, tz)
    since = max(start, now - timedelta(minutes=cfg.live_history_min))
    windows = [window_view(p, cfg.zone_k) for p in store.room_aggregates(room, iso(since), iso(end), site=site)]
    dev = device_state(store, site, room, cfg, now)
    fresh = bool(windows) and _dt(windows[-1]["window_end"]) >= now - timedelta(seconds=cfg.offline_after_s)
    if fresh:  # windows arriving prove the device is up, whatever its last status said
        dev["state"] = "online"
    state = "offline" if dev["state"] != "online" else ("live" if windows else "no_data")
    out.update(state=state, device=dev, windows=windows,
               lesson={"section_id": s.section_id, "session_id": s.session_id, "title": out["sections"].get(
                   s.section_id, s.section_id), "site": site, "room": room, "period": s.period,
                   "room_name": room_names(store).get((site, room), room),
                   "start_utc": iso(start), "end_utc": iso(end), "start_local": s.start_local,
                   "end_local": s.end_local, "date": s.date},
               usual=usual_level(store, s.section_id, s.session_id, cfg.usual_sessions))
    return out
