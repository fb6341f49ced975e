"""The dashboard app: JSON API (OpenAPI at /api/openapi.json), server-sent events, static tablet UI.

Every ``/api/*`` route except ``/api/login`` passes one gate (:class:`SessionGate`): no live
session → 401; a state-changing request without the session's CSRF token or from another
origin → 403. Routes then check the role and the scope (teacher → own sections, advisor and
counsellor → assigned students) and answer 403 outside it. Views of a student's warnings are
written to the audit log.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from http.cookies import SimpleCookie
from importlib import resources
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from classpulse_contract import ID_PATTERN, Aggregate
from cloud_aggregator import device_registry
from cloud_aggregator.config.warnings import warnings_config
from cloud_aggregator.config.web import DashboardConfig, dashboard_config, parse_networks
from cloud_aggregator.device_certs import CSR_MAX_CHARS, CsrError
from cloud_aggregator.store import db, iso, now_iso, warning_log
from cloud_aggregator.store.analysable import analysable, analysable_students
from cloud_aggregator.store.web_tables import ASSISTANT_FEEDBACK, AUDIT_LOG, INTERVENTIONS, WARNING_ACTIONS
from cloud_aggregator.timetable import SessionResolver
from cloud_aggregator.warnings import risk
from cloud_aggregator.warnings.scheduler import WarningScheduler

from . import assistant, auth, fleet, live, reports, scope, students
from .audit import audit_events
from .client_address import client_address
from .download import attachment
from .events import EventHub
from .ranges import Day
from .throttle import LoginThrottle

if TYPE_CHECKING:
    from cloud_aggregator.store import Store

log = logging.getLogger(__name__)
SSE_KEEPALIVE_S = 15.0
PUBLIC_API = {"/api/login", "/api/enrol"}  # enrol: the one-time token is the credential
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
                ".json": "application/json", ".svg": "image/svg+xml", ".png": "image/png",
                ".webmanifest": "application/manifest+json", ".html": "text/html; charset=utf-8"}
SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"),
                    (b"content-security-policy", b"default-src 'self'; img-src 'self' data: blob:; "
                                                 b"style-src 'self'; script-src 'self'; object-src 'none'; "
                                                 b"frame-ancestors 'none'; base-uri 'none'")]
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "no live session (log in first)"},
    403: {"description": "not allowed for your role or scope, a missing/wrong CSRF token, or a cross-origin request"}}
THROTTLED = {429: {"description": "too many failed attempts; retry after the Retry-After header's seconds"}}
Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@-]+$")]
ContractId = Annotated[str, Field(pattern=ID_PATTERN, description="a wire-contract id (site, room, device)")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(_In):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class LanguageIn(_In):
    language: Literal["en", "zh-CN"]


class FeedbackIn(_In):
    section_id: Id
    session_id: str = Field(min_length=1, max_length=200)
    suggestion_id: str = Field(min_length=1, max_length=300)
    rule_id: str = Field(pattern=r"^[a-z0-9_]{1,40}$")
    verdict: Literal["useful", "dismissed"]
    value: float | None = Field(None, ge=0, le=1)
    usual: float | None = Field(None, ge=0, le=1)


class WarningActionIn(_In):
    action: Literal["acknowledge", "escalate"]
    note: str = Field("", max_length=2000)


class InterventionIn(_In):
    kind: Literal["meeting", "call_home", "tutoring", "referral", "other"]
    note: str = Field("", max_length=4000)
    warning_id: str | None = Field(None, max_length=200)
    at: Day | None = Field(None, description="when it took place, if not now (recorded after the fact); "
                           "never in the future — the effect on risk is measured from this day")


class OutcomeIn(_In):
    outcome: Literal["improved", "no_change", "worse", "closed"]
    note: str = Field("", max_length=4000)


class TokenIn(_In):
    site: ContractId
    room: ContractId
    device: ContractId
    ttl_h: int = Field(24, ge=1, le=24 * 14, strict=True, description="hours the token stays valid")
    rekey: bool = Field(False, strict=True, description="replace the credentials of an already-enrolled device")


class RoomIn(_In):
    site: ContractId
    room: ContractId


class EnrolIn(_In):
    token: str = Field(min_length=16, max_length=128)
    csr_pem: str | None = Field(None, max_length=CSR_MAX_CHARS, description="the box's certificate request "
                                "(PEM, EC P-256, CN = its device id); required when the aggregator signs device "
                                "certificates (enrolment.client_ca_cert), ignored otherwise")


class ModelUpdateIn(_In):
    model: str = Field(pattern=r"^[a-z0-9_-]{1,40}$")
    version: str = Field(pattern=r"^[A-Za-z0-9._-]{1,40}$")
    url: str = Field(pattern=r"^https://[^\s]{1,500}$", description="devices fetch bundles over https only")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


def _static_text(*parts: str) -> str:
    return resources.files("cloud_aggregator.web").joinpath("static", *parts).read_text(encoding="utf-8")


def _static_bytes(*parts: str) -> bytes:
    return resources.files("cloud_aggregator.web").joinpath("static", *parts).read_bytes()


def _cookie(scope: dict[str, Any]) -> str | None:
    for k, v in scope.get("headers", []):
        if k == b"cookie":
            c = SimpleCookie()
            try:
                c.load(v.decode("latin-1"))
            except Exception:  # noqa: BLE001 - a malformed cookie header is simply no session
                return None
            if auth.COOKIE in c:
                return c[auth.COOKIE].value
    return None


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for k, v in scope.get("headers", []):
        if k == name:
            return v.decode("latin-1")
    return None


class SessionGate:
    """ASGI middleware: the one place that says 401 (no session) or 403 (CSRF / cross-origin)."""

    def __init__(self, app: Any, store: Store, cfg: DashboardConfig):  # noqa: ANN401
        self.app, self.store, self.cfg = app, store, cfg

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:  # noqa: ANN401
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        path, method = scope["path"], scope["method"]
        api = path.startswith("/api/")

        async def send_secure(msg: dict[str, Any]) -> None:
            if msg["type"] == "http.response.start":
                headers = [*msg.get("headers", []), *SECURITY_HEADERS]
                if api and not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))  # API answers are personal: never cached
                msg = {**msg, "headers": headers}
            await send(msg)

        if not path.startswith("/api/") or path in PUBLIC_API or path == "/api/openapi.json":
            if method in UNSAFE and not self._same_origin(scope):
                await self._deny(send_secure, 403, "cross-origin request refused")
                return
            await self.app(scope, receive, send_secure)
            return
        user = await run_in_threadpool(auth.session_user, self.store, _cookie(scope), self.cfg.auth)
        if user is None:
            await self._deny(send_secure, 401, "login required")
            return
        if method in UNSAFE:
            if not self._same_origin(scope):
                await self._deny(send_secure, 403, "cross-origin request refused")
                return
            if not auth.csrf_ok(user, _header(scope, auth.CSRF_HEADER.lower().encode())):
                await self._deny(send_secure, 403, "missing or wrong CSRF token")
                return
        scope.setdefault("state", {})["user"] = user
        await self.app(scope, receive, send_secure)

    @staticmethod
    def _same_origin(scope: dict[str, Any]) -> bool:
        origin = _header(scope, b"origin")
        if origin is None:  # same-origin fetches from older browsers; SameSite=Strict still applies
            return True
        host = _header(scope, b"host") or ""
        return origin.split("://", 1)[-1] == host

    @staticmethod
    async def _deny(send: Any, status: int, detail: str) -> None:  # noqa: ANN401
        body = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": body})


def _user(request: Request) -> auth.User:
    user = getattr(request.state, "user", None)
    if user is None:  # the gate guarantees this for /api/*; defensive for routes mounted elsewhere
        raise HTTPException(401, "login required")
    return user


def role(*roles: str) -> Any:  # noqa: ANN401 - a FastAPI dependency
    def dep(request: Request) -> auth.User:
        user = _user(request)
        if user.role not in roles:
            raise HTTPException(403, f"not allowed for role {user.role}")
        return user
    return Depends(dep)


def create_app(store: Store, config: Any, ingest: Any = None, *, command_sender: Any = None,  # noqa: ANN401, C901
               resolver: Any = None) -> FastAPI:
    """The dashboard + API over ``store``; ``ingest`` (IngestService) feeds live updates when given.

    ``config`` is the AggregatorConfig (its ``dashboard`` section, when present, is a
    ``DashboardConfig``); ``command_sender`` defaults to an MQTT sender using ``config.mqtt``.
    """
    cfg = dashboard_config(config)
    wcfg = warnings_config(config)
    db.ensure_web_tables(store)
    scheduler: reports.ReportScheduler | None = None
    warn_scheduler: WarningScheduler | None = None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        nonlocal scheduler, warn_scheduler
        hub.bind_loop(asyncio.get_running_loop())
        if cfg.report_schedule == "weekly":
            scheduler = reports.ReportScheduler(store, reports.report_dir(cfg, config), cfg.default_language,
                                               cfg.report_fonts)
            scheduler.start()
        if wcfg.schedule == "hourly" and getattr(config, "warnings", None) is not None:
            warn_scheduler = WarningScheduler(store, wcfg, keys)
            warn_scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.stop()
            if warn_scheduler is not None:
                warn_scheduler.stop()
            if command_sender is not None and hasattr(command_sender, "close"):
                command_sender.close()

    app = FastAPI(lifespan=lifespan, title="ClassPulse aggregator API", version="1.0.0", openapi_url="/api/openapi.json",
                  docs_url=None, redoc_url=None,  # Swagger UI would load from a CDN
                  responses=ERROR_RESPONSES,
                  description="Anonymous classroom engagement aggregates, early warnings and the device fleet. "
                              "Log in with POST /api/login (cookie session); send the returned csrf token as "
                              "X-CSRF-Token on every POST/PUT/DELETE.")
    app.add_middleware(SessionGate, store=store, cfg=cfg)
    hub = EventHub()
    throttle = LoginThrottle(store, cfg.auth)
    proxies = parse_networks(getattr(getattr(config, "web", None), "trusted_proxies", []) or [])

    def client_of(request: Request) -> str:
        return client_address(request.client.host if request.client else None,
                              request.headers.getlist("x-forwarded-for"), proxies)
    resolver = resolver or getattr(ingest, "resolve_session", None) or SessionResolver(store, refresh_s=30.0)
    keys = None
    try:
        from cloud_aggregator.records.keys import load_keys

        keys = load_keys(getattr(config, "records", None))
    except Exception as e:  # noqa: BLE001 - names are optional; pseudonyms are shown instead
        log.info("records key not available (%s): the dashboard shows pseudonyms instead of names", e)
    if command_sender is None and getattr(config, "mqtt", None) is not None:
        command_sender = fleet.CommandSender(store, config.mqtt)
    reserved = device_registry.reserved_names(getattr(config, "mqtt", None))
    app.state.hub, app.state.store, app.state.cfg, app.state.throttle = hub, store, cfg, throttle

    def on_stored(aggs: list[Aggregate]) -> None:
        for a in aggs:
            try:
                section, session = resolver(a)
                payload = a.model_dump(mode="json", by_alias=True)
                hub.publish("agg", {"site": a.site, "room": a.room, "section_id": section, "session_id": session,
                                    "window": live.window_view(payload, cfg.zone_k)}, section)
            except Exception:  # never let the dashboard break ingest's writer thread
                log.exception("live fan-out failed")

    app.state.on_stored = on_stored
    if ingest is not None:
        ingest.subscribe_stored(on_stored)

    # ------------------------------------------------------------------ helpers
    def audit(user: auth.User, action: str, pseudonyms: list[str], detail: str = "") -> None:
        ts = now_iso()
        db.insert(store, AUDIT_LOG, [{"id": db.new_id(), "ts": ts, "username": user.username, "role": user.role,
                                      "action": action, "student_pseudonym": p, "detail": detail}
                                     for p in pseudonyms] or [{"id": db.new_id(), "ts": ts,
                                                               "username": user.username, "role": user.role,
                                                               "action": action, "student_pseudonym": None,
                                                               "detail": detail}])

    def enc(text: str) -> str | None:
        if not text:
            return None
        if keys is None:
            raise HTTPException(503, "notes need the records key (records.key_file) to be stored encrypted")
        return keys.encrypt({"t": text})

    def dec(token: str | None) -> str:
        if not token or keys is None:
            return ""
        return str(keys.decrypt(token).get("t", ""))

    def names(ps: list[str]) -> dict[str, dict[str, str]]:
        if keys is None or not ps:
            return {}
        from cloud_aggregator.records.access import student_names

        try:
            return student_names(store.db, keys, ps)
        except Exception:  # noqa: BLE001 - wrong key for this database: pseudonyms only
            log.warning("could not decrypt student names (records key mismatch?)")
            return {}

    def check_section(user: auth.User, section_id: str) -> None:
        if section_id not in scope.visible_sections(store, user):
            raise HTTPException(403, "not your section")

    def check_student(user: auth.User, pseudonym: str) -> None:
        if pseudonym not in scope.visible_students(store, user):
            raise HTTPException(403, "not an assigned student")

    # ------------------------------------------------------------------ public pages
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> Response:
        return HTMLResponse(_static_text("index.html"), headers={"Cache-Control": "no-cache"})

    @app.get("/manifest.webmanifest", include_in_schema=False)
    def manifest() -> Response:
        return Response(_static_text("manifest.webmanifest"), media_type=STATIC_TYPES[".webmanifest"])

    @app.get("/sw.js", include_in_schema=False)
    def service_worker() -> Response:
        return Response(_static_text("sw.js"), media_type=STATIC_TYPES[".js"],
                        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"})

    @app.get("/static/{path:path}", include_in_schema=False)
    def static(path: str) -> Response:
        parts = path.split("/")
        ext = "." + path.rsplit(".", 1)[-1] if "." in parts[-1] else ""
        if ext not in STATIC_TYPES or any(not p or p.startswith(".") for p in parts) or len(parts) > 3:
            return Response(status_code=404)
        try:
            data = _static_bytes(*parts)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return Response(status_code=404)
        return Response(data, media_type=STATIC_TYPES[ext], headers={"Cache-Control": "no-cache"})

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, Any]:
        return {"ok": True}

    # ------------------------------------------------------------------ auth
    @app.post("/api/login", tags=["auth"], summary="Log in (sets an HttpOnly session cookie; returns the CSRF token)",
              responses={401: {"description": "wrong user name or password"}, **THROTTLED})
    def login(body: LoginIn, request: Request) -> JSONResponse:
        client = client_of(request)
        refused = throttle.begin(body.username, client)  # charged before the check: concurrent guesses count
        if refused is not None:
            raise HTTPException(429, "too many failed logins; try again later",
                                headers={"Retry-After": str(int(refused.retry_after_s) + 1)})
        user = auth.authenticate(store, body.username, body.password, cfg.auth)
        if user is None:
            raise HTTPException(401, "wrong user name or password")
        throttle.succeeded(body.username, client)
        token, user = auth.start_session(store, user, cfg.auth)
        resp = JSONResponse({"user": _me(user), "csrf": user.csrf})
        resp.set_cookie(auth.COOKIE, token, httponly=True, samesite="strict", secure=cfg.auth.secure_cookies,
                        max_age=int(cfg.auth.session_ttl_h * 3600), path="/")
        return resp

    def _me(user: auth.User) -> dict[str, Any]:
        return {"username": user.username, "role": user.role, "display_name": user.display_name,
                "language": user.language}

    @app.post("/api/logout", tags=["auth"], status_code=204)
    def logout(request: Request) -> Response:
        _user(request)
        auth.end_session(store, _cookie(request.scope))
        resp = Response(status_code=204)
        resp.delete_cookie(auth.COOKIE, path="/")
        return resp

    @app.get("/api/me", tags=["auth"], summary="The logged-in user and the session's CSRF token")
    def me(request: Request) -> dict[str, Any]:
        user = _user(request)
        return {"user": _me(user), "csrf": user.csrf}

    @app.put("/api/me/language", tags=["auth"])
    def set_language(body: LanguageIn, request: Request) -> dict[str, Any]:
        user = _user(request)
        auth.set_language(store, user.username, body.language)
        return {"language": body.language}

    # ------------------------------------------------------------------ teacher live view
    @app.get("/api/sections", tags=["live"], summary="Sections whose class-level engagement you may see")
    def sections(user: auth.User = role("teacher", "admin")) -> dict[str, str]:
        return live.section_titles(store, scope.visible_sections(store, user))

    @app.get("/api/live", tags=["live"], summary="The current lesson of your sections: state, windows so far, usual level")
    def live_now(user: auth.User = role("teacher")) -> dict[str, Any]:
        return live.teacher_live(store, cfg, scope.visible_sections(store, user))

    @app.get("/api/sections/{section_id}/live", tags=["live"], summary="Live state of one section")
    def section_live(section_id: Id, user: auth.User = role("teacher", "admin")) -> dict[str, Any]:
        check_section(user, section_id)
        return live.teacher_live(store, cfg, {section_id})

    def quiet_rules(session_id: str, now: datetime) -> set[str]:
        since = iso(now - timedelta(minutes=cfg.assistant.cooldown_min))
        rows = db.query(store, "SELECT rule_id FROM assistant_feedback WHERE session_id = ? AND ts >= ?",
                        (session_id, since))
        return {r["rule_id"] for r in rows}

    @app.get("/api/sections/{section_id}/assistant", tags=["live"],
             summary="The teaching assistant's current suggestion for the section's running lesson (or null)")
    def section_assistant(section_id: Id, user: auth.User = role("teacher")) -> dict[str, Any]:
        check_section(user, section_id)
        now = datetime.now(timezone.utc)
        state = live.teacher_live(store, cfg, {section_id}, now)
        if state["state"] != "live":
            return {"suggestion": None, "state": state["state"]}
        ses = state["lesson"]["session_id"]
        s = assistant.suggest(cfg.assistant, state["windows"], state["usual"], ses, quiet_rules(ses, now))
        return {"suggestion": s.to_dict() if s else None, "state": "live", "session_id": ses}

    @app.post("/api/assistant/feedback", tags=["live"], status_code=201,
              summary="Mark a suggestion useful or dismiss it (stored to tune the rules)")
    def assistant_feedback(body: FeedbackIn, user: auth.User = role("teacher")) -> dict[str, Any]:
        check_section(user, body.section_id)
        fid = db.new_id()
        db.insert(store, ASSISTANT_FEEDBACK, [{"id": fid, "ts": now_iso(), "username": user.username,
                                               "section_id": body.section_id, "session_id": body.session_id,
                                               "rule_id": body.rule_id, "verdict": body.verdict,
                                               "value": body.value, "usual": body.usual}])
        return {"id": fid}

    @app.get("/api/assistant/feedback/summary", tags=["live"], summary="Feedback counts per rule (for tuning)")
    def feedback_summary(user: auth.User = role("admin")) -> list[dict[str, Any]]:
        return db.query(store, "SELECT rule_id, verdict, COUNT(*) AS n FROM assistant_feedback "
                               "GROUP BY rule_id, verdict ORDER BY rule_id, verdict")

    @app.get("/api/rooms/latest", tags=["live"], summary="Latest window per room (school admin overview)")
    def rooms_latest(user: auth.User = role("admin")) -> list[dict[str, Any]]:
        rows = store.latest_per_room()
        names = live.room_names(store)
        sec = {(r["site"], r["room"]): r["section_id"] for r in db.query(
            store, "SELECT a.site, a.room, a.section_id FROM aggregates a JOIN (SELECT site, room, MAX(window_start) "
                   "AS ws FROM aggregates GROUP BY site, room) m ON a.site = m.site AND a.room = m.room AND "
                   "a.window_start = m.ws")}
        titles = live.section_titles(store, {s for s in sec.values() if s})
        out = []
        for p in rows:
            sid = sec.get((p["site"], p["room"]))
            out.append({**live.window_view(p, cfg.zone_k), "site": p["site"], "room": p["room"],
                        "room_name": names.get((p["site"], p["room"])), "section_id": sid,
                        "section_title": titles.get(sid) if sid else None})
        return out

    @app.get("/api/rooms/{room}/aggregates", tags=["live"], summary="A room's windows (school admin)")
    def room_history(room: Id, since: str = Query("0000", max_length=40), until: str | None = Query(None, max_length=40),
                     user: auth.User = role("admin")) -> list[dict[str, Any]]:
        return [live.window_view(p, cfg.zone_k) for p in store.room_aggregates(room, since, until)]

    @app.get("/api/events", tags=["live"], summary="Server-sent events: 'agg' for each stored window you may see")
    async def events(request: Request) -> StreamingResponse:
        user = _user(request)
        if user.role not in ("teacher", "admin"):
            raise HTTPException(403, "no live stream for this role")
        allowed = await run_in_threadpool(scope.visible_sections, store, user)
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

    # ------------------------------------------------------------------ counsellor workspace
    @app.get("/api/warnings", tags=["warnings"],
             summary="Your assigned students' warnings as the engine's last run stored them, one card each (audited)")
    def warnings(level: int | None = Query(None, ge=1, le=3), type: str | None = Query(None, max_length=20),  # noqa: A002
                 state: str | None = Query(None, max_length=20),
                 user: auth.User = role("advisor", "counsellor")) -> dict[str, Any]:
        ps = sorted(scope.visible_students(store, user))
        run = warning_log.last_run(store)
        cards = [c for c in students.warning_cards(store, ps) if (level is None or c["level"] == level)
                 and (type is None or type in c["types"]) and (state is None or c["state"] == state)]
        nm = names([c["student"] for c in cards])
        for c in cards:
            c["name"] = nm.get(c["student"])
        audit(user, "view_warnings", [c["student"] for c in cards], f"{len(cards)} cards")
        return {"warnings": cards, "students": len(ps), "source": "engine", "run": warning_log.run_view(run),
                "note": None if run else "the warnings engine has not run yet: no warnings exist until its first "
                                         "run (scheduled hourly, or `cloud-aggregator warnings run`)"}

    @app.get("/api/warnings/summary", tags=["warnings"], summary="Warning counts by level and type (no names)")
    def warnings_summary(user: auth.User = role("advisor", "counsellor", "admin")) -> dict[str, Any]:
        ps = sorted(scope.visible_students(store, user)) if user.role != "admin" else analysable_students(store)
        ws = warning_log.active_warnings(store, "student", ps)
        counts: dict[str, dict[str, int]] = {}
        for w in ws:
            counts.setdefault(str(w["level"]), {}).setdefault(w["type"], 0)
            counts[str(w["level"])][w["type"]] += 1
        return {"students": len(ps), "students_with_warnings": len({w["subject"] for w in ws}), "counts": counts,
                "engine_ran": warning_log.last_run(store) is not None}

    @app.get("/api/students/{pseudonym}", tags=["warnings"], summary="A student's profile (audited)")
    def student_profile(pseudonym: Id, user: auth.User = role("advisor", "counsellor")) -> dict[str, Any]:
        check_student(user, pseudonym)
        prof = students.profile(store, pseudonym, wcfg)
        prof["name"] = names([pseudonym]).get(pseudonym)
        prof["interventions"] = list_interventions(pseudonym)
        audit(user, "view_profile", [pseudonym])
        return prof

    def list_interventions(pseudonym: str) -> list[dict[str, Any]]:
        rows = db.query(store, "SELECT * FROM interventions WHERE student_pseudonym = ? ORDER BY created_at DESC",
                        (pseudonym,))
        effects = {e["intervention_id"]: risk.effect_view(e) for e in db.query(
            store, "SELECT * FROM intervention_effects WHERE student_pseudonym = ?", (pseudonym,))}
        return [{"id": r["id"], "warning_id": r["warning_id"], "by": r["by_user"], "created_at": r["created_at"],
                 "kind": r["kind"], "note": dec(r["note_enc"]), "outcome": r["outcome"],
                 "outcome_note": dec(r["outcome_note_enc"]), "outcome_at": r["outcome_at"],
                 "effect": effects.get(r["id"])} for r in rows]

    @app.get("/api/interventions/effects", tags=["warnings"],
             summary="Risk change after interventions, per kind, vs comparable students without one (not causal)")
    def intervention_effects(user: auth.User = role("advisor", "counsellor", "admin")) -> dict[str, Any]:
        return {"by_kind": risk.effect_summary(store),
                "caveat": "Observational: students who got an intervention were chosen for a reason, so the "
                          "difference is not the intervention's causal effect (see docs/warnings.md)."}

    @app.get("/api/students/{pseudonym}/interventions", tags=["warnings"])
    def interventions(pseudonym: Id, user: auth.User = role("advisor", "counsellor")) -> list[dict[str, Any]]:
        check_student(user, pseudonym)
        audit(user, "view_interventions", [pseudonym])
        return list_interventions(pseudonym)

    @app.post("/api/students/{pseudonym}/interventions", tags=["warnings"], status_code=201,
              summary="Record an intervention")
    def add_intervention(pseudonym: Id, body: InterventionIn,
                         user: auth.User = role("advisor", "counsellor")) -> dict[str, Any]:
        check_student(user, pseudonym)
        if body.warning_id is not None and not body.warning_id.startswith(pseudonym + ":"):
            raise HTTPException(422, "warning_id belongs to another student")
        if body.warning_id is not None and not warning_log.warning_stored(store, body.warning_id):
            raise HTTPException(404, "no such warning")
        if body.at is not None and body.at > datetime.now(timezone.utc).date():
            raise HTTPException(422, "an intervention cannot be recorded for a future day")
        iid = db.new_id()
        when = now_iso() if body.at is None else f"{body.at.isoformat()}T12:00:00Z"
        db.insert(store, INTERVENTIONS, [{"id": iid, "student_pseudonym": pseudonym, "warning_id": body.warning_id,
                                          "by_user": user.username, "created_at": when, "kind": body.kind,
                                          "note_enc": enc(body.note), "outcome": None, "outcome_note_enc": None,
                                          "outcome_at": None}])
        audit(user, "add_intervention", [pseudonym], body.kind)
        return {"id": iid}

    @app.put("/api/interventions/{intervention_id}/outcome", tags=["warnings"], summary="Record an intervention's outcome")
    def intervention_outcome(intervention_id: Id, body: OutcomeIn,
                             user: auth.User = role("advisor", "counsellor")) -> dict[str, Any]:
        rows = db.query(store, "SELECT student_pseudonym FROM interventions WHERE id = ?", (intervention_id,))
        if not rows:
            raise HTTPException(404, "no such intervention")
        check_student(user, rows[0]["student_pseudonym"])
        db.write(store, "UPDATE interventions SET outcome = ?, outcome_note_enc = ?, outcome_at = ? WHERE id = ?",
                 (body.outcome, enc(body.note), now_iso(), intervention_id))
        audit(user, "intervention_outcome", [rows[0]["student_pseudonym"]], body.outcome)
        return {"id": intervention_id, "outcome": body.outcome}

    @app.post("/api/warnings/{warning_id}/action", tags=["warnings"], status_code=201,
              summary="Acknowledge or escalate a warning")
    def warning_action(warning_id: str, body: WarningActionIn,
                       user: auth.User = role("teacher", "advisor", "counsellor")) -> dict[str, Any]:
        if len(warning_id) > 200 or warning_id.count(":") != 2:
            raise HTTPException(404, "no such warning")
        subject, wtype, _ = warning_id.split(":")
        is_class = wtype.startswith("class_")
        if user.role == "teacher":  # class warnings of their sections, and student warnings routed to them
            if is_class:
                check_section(user, subject)
            elif not db.query(store, "SELECT 1 FROM warning_deliveries WHERE warning_id = ? AND recipient = ? LIMIT 1",
                              (warning_id, user.staff_sourced_id or "")):
                raise HTTPException(403, "not a warning sent to you")
        elif is_class:
            raise HTTPException(403, "class warnings are acknowledged by their teacher")
        else:
            check_student(user, subject)
        if not warning_log.warning_stored(store, warning_id):  # scope first: no existence oracle
            raise HTTPException(404, "no such warning")
        pseudonym = None if is_class else subject
        db.insert(store, WARNING_ACTIONS, [{"id": db.new_id(), "warning_id": warning_id, "student_pseudonym": pseudonym,
                                            "by_user": user.username, "ts": now_iso(), "action": body.action,
                                            "note_enc": enc(body.note)}])
        audit(user, f"warning_{body.action}", [pseudonym] if pseudonym else [], warning_id)
        return {"warning_id": warning_id, "state": body.action}

    @app.get("/api/warnings/runs", tags=["warnings"], summary="Recent scoring runs: counts, rules version, freshness")
    def warning_runs(limit: int = Query(20, ge=1, le=500),
                     user: auth.User = role("advisor", "counsellor", "admin")) -> dict[str, Any]:
        rows = db.query(store, "SELECT * FROM warning_runs ORDER BY started_at DESC LIMIT ?", (limit,))
        for r in rows:
            r["counts"], r["freshness"] = json.loads(r["counts"] or "{}"), json.loads(r["freshness"] or "{}")
            r["stale_sources"] = [x for x in (r["stale_sources"] or "").split(",") if x]
        out = db.query(store, "SELECT status, COUNT(*) AS n FROM warning_deliveries GROUP BY status")
        model = db.query(store, "SELECT version, kind, created_at, window_start, window_end, n_students, metrics, "
                                "fairness, train_s FROM risk_models WHERE active = 1 ORDER BY created_at DESC LIMIT 1")
        for m in model:
            m["metrics"], m["fairness"] = json.loads(m["metrics"] or "{}"), json.loads(m["fairness"] or "{}")
        drift = db.query(store, "SELECT * FROM risk_drift ORDER BY ts DESC LIMIT 1")
        for d in drift:
            d["psi"], d["flagged"] = json.loads(d["psi"] or "{}"), bool(d["flagged"])
        return {"runs": rows, "deliveries": {r["status"]: int(r["n"]) for r in out},
                "risk_model": model[0] if model else None, "rules_only": not model,
                "drift": drift[0] if drift else None}

    @app.get("/api/warnings/classes", tags=["warnings"], summary="Class-level engagement warnings of your sections")
    def class_warnings(user: auth.User = role("teacher", "admin")) -> dict[str, Any]:
        secs = sorted(scope.visible_sections(store, user))
        return {"warnings": students.class_warnings(store, secs)}

    @app.get("/api/audit", tags=["admin"], summary="Who viewed which student's warnings")
    def audit_log(student: str | None = Query(None, max_length=128), limit: int = Query(200, ge=1, le=5000),
                  grouped: bool = Query(False, description="one entry per action (with its number of students)"),
                  user: auth.User = role("admin")) -> list[dict[str, Any]]:
        if student:
            return db.query(store, "SELECT * FROM audit_log WHERE student_pseudonym = ? ORDER BY ts DESC LIMIT ?",
                            (student, limit))
        if grouped:  # one line per view: a list view writes a row per student it showed, all with one timestamp
            return audit_events(db.query(store, "SELECT * FROM audit_log ORDER BY ts DESC LIMIT ?", (limit * 50,)),
                                limit)
        return db.query(store, "SELECT * FROM audit_log ORDER BY ts DESC LIMIT ?", (limit,))

    # ------------------------------------------------------------------ IT fleet
    @app.get("/api/fleet", tags=["fleet"], summary="Devices: online, last seen, temperature, outbox, fps, models, policy")
    def fleet_view(user: auth.User = role("it")) -> dict[str, Any]:
        rows = fleet.fleet_rows(store, cfg)
        return {"devices": rows, "online": sum(r["online"] for r in rows), "total": len(rows)}

    @app.get("/api/fleet/deadletters", tags=["fleet"],
             summary="Recent refused messages: device, time, reason, size, repeats (paged; never a payload body)")
    def fleet_dead_letters(limit: int = Query(20, ge=1, le=200), offset: int = Query(0, ge=0, le=10_000_000),
                           device: str | None = Query(None, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$"),
                           user: auth.User = role("it")) -> dict[str, Any]:
        return store.dead_letter_page(limit, offset, device)

    @app.get("/api/fleet/commands", tags=["fleet"])
    def fleet_commands(device: str | None = Query(None, max_length=64), user: auth.User = role("it")) -> list[dict[str, Any]]:
        return fleet.commands(store, device)

    @app.post("/api/fleet/tokens", tags=["fleet"], status_code=201,
              summary="Issue a one-time enrolment token for a new device (shown once; only its hash is stored)")
    def issue_token(body: TokenIn, user: auth.User = role("it")) -> dict[str, Any]:
        ecfg = getattr(config, "enrolment", None)
        try:
            old = device_registry.check_token_request(store, body.device, body.site, body.room, body.rekey,
                                                      reserved, getattr(ecfg, "password_file", None))
        except device_registry.RegistryError as e:
            raise HTTPException(e.status, e.reason, headers={"X-Refusal": e.code}) from None
        token = store.issue_token(body.site, body.room, body.device, timedelta(hours=body.ttl_h))
        new = f"{body.site}/{body.room}/{body.device}"
        if body.rekey:
            audit(user, "rekey_device", [], f"{body.device}: old {json.dumps(old, sort_keys=True)}; new {new}, "
                                            f"token for {body.ttl_h} h")
        else:
            audit(user, "issue_enrolment_token", [], new)
        return {"token": token, "device": body.device, "site": body.site, "room": body.room,
                "expires_in_h": body.ttl_h, "rekey": body.rekey}

    @app.put("/api/fleet/{device}/room", tags=["fleet"],
             summary="Move a device to another room (the only way its room changes; audited, broker ACL updated)")
    def move_device(device: ContractId, body: RoomIn, user: auth.User = role("it")) -> dict[str, Any]:
        try:
            old = device_registry.move_device(store, device, body.site, body.room)
        except device_registry.RegistryError as e:
            raise HTTPException(e.status, e.reason, headers={"X-Refusal": e.code}) from None
        audit(user, "move_device", [], f"{device}: {old[0]}/{old[1]} -> {body.site}/{body.room}")
        reloaded = device_registry.sync_broker(store, getattr(config, "enrolment", None))
        return {"device": device, "site": body.site, "room": body.room,
                "previous": {"site": old[0], "room": old[1]}, "broker_reloaded": reloaded}

    @app.post("/api/enrol", tags=["fleet"], summary="A new device redeems its one-time token for broker credentials",
              responses=THROTTLED)
    def enrol_device(body: EnrolIn, request: Request) -> dict[str, Any]:
        from cloud_aggregator.enrolment import enrol
        from cloud_aggregator.store.base import TokenError

        ecfg = getattr(config, "enrolment", None)
        client = client_of(request)
        refused = throttle.begin_enrol(client)
        if refused is not None:
            raise HTTPException(429, "too many enrolment attempts; wait and retry",
                                headers={"Retry-After": str(int(refused.retry_after_s) + 1)})
        try:
            out = enrol(store, body.token, ecfg, reserved, body.csr_pem) if ecfg is not None else None
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

    @app.post("/api/fleet/{device}/model-update", tags=["fleet"], status_code=202,
              summary="Push a model update command to a device")
    def model_update(device: Id, body: ModelUpdateIn, user: auth.User = role("it")) -> dict[str, Any]:
        rows = [d for d in store.devices() if d["device"] == device]
        if not rows:
            raise HTTPException(404, "no such device")
        if command_sender is None:
            raise HTTPException(503, "no MQTT connection configured for commands")
        try:
            res = command_sender.send(rows[0], "model_update", body.model_dump(), user.username)
        except OSError as e:
            raise HTTPException(503, f"broker unreachable: {e}") from e
        audit(user, "model_update", [], f"{device} {body.model} {body.version}")
        return res

    @app.get("/api/ops/ingest", tags=["fleet"], summary="Ingest counters")
    def ingest_stats(user: auth.User = role("it", "admin")) -> dict[str, Any]:
        stats = dict(ingest.stats.__dict__) if ingest is not None else {}
        return {"ingest": stats, "sse_clients": hub.n_clients, "dead_letters": store.count("dead_letters")}

    # ------------------------------------------------------------------ reports
    def report_scopes(user: auth.User) -> dict[str, tuple[str, list[str]]]:
        secs = scope.visible_sections(store, user)
        titles = live.section_titles(store, secs)
        out = {f"section:{s}": (titles.get(s, s), [s]) for s in sorted(secs)}
        if user.role == "admin":
            out["school"] = ("School", sorted(secs))
            for d in reports.departments(store):
                out[f"department:{d}"] = (d, reports.department_sections(store, d))
        return out

    @app.get("/api/reports/scopes", tags=["reports"], summary="Report scopes you may request")
    def scopes(user: auth.User = role("teacher", "admin")) -> list[dict[str, str]]:
        return [{"scope": k, "title": v[0]} for k, v in report_scopes(user).items()]

    @app.get("/api/reports/weekly", tags=["reports"], summary="Weekly report (PDF or CSV) for a section, department or the school",
             responses={200: {"content": {"application/pdf": {}, "text/csv": {}}}})
    def weekly_report(report_scope: str = Query(..., alias="scope", max_length=200),
                      week: Day | None = Query(None, description="any day of the week (default: this week)"),
                      format: Literal["pdf", "csv"] = "pdf",  # noqa: A002
                      lang: Literal["en", "zh-CN"] | None = None,
                      user: auth.User = role("teacher", "admin")) -> Response:
        allowed = report_scopes(user)
        if report_scope not in allowed:
            raise HTTPException(403, "not a report scope you may request")
        title, secs = allowed[report_scope]
        counts = None
        if user.role == "admin":
            enrolled = {r["p"] for r in db.query(store, "SELECT DISTINCT user_pseudonym AS p FROM enrollments WHERE "  # noqa: S608
                                                        f"role = ? AND {analysable('user_pseudonym')}", ("student",))
                        } if report_scope == "school" else _enrolled(secs)
            counts = {}
            for w in warning_log.active_warnings(store, "student", sorted(enrolled)):
                counts[w["level"]] = counts.get(w["level"], 0) + 1
        rep = reports.build_report(store, report_scope, title, secs, week or datetime.now(timezone.utc).date(),
                                   warning_counts=counts)
        fname = f"classpulse-{report_scope.replace(':', '-')}-{rep.week_start.isoformat()}"
        if format == "csv":
            return Response(reports.to_csv(rep), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": attachment(fname, "csv")})
        pdf = reports.to_pdf(rep, lang or user.language, cfg.report_fonts)
        return Response(pdf, media_type="application/pdf", headers={"Content-Disposition": attachment(fname, "pdf")})

    def _enrolled(secs: list[str]) -> set[str]:
        out: set[str] = set()
        for i in range(0, len(secs), 400):
            chunk = secs[i:i + 400]
            out |= {r["p"] for r in db.query(store, "SELECT DISTINCT user_pseudonym AS p FROM enrollments WHERE "  # noqa: S608
                                                    f"section_sourced_id IN {db.in_list(chunk)} AND role = ? AND "
                                                    f"{analysable('user_pseudonym')}", [*chunk, "student"])}
        return out

    return app
