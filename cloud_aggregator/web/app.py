"""The dashboard app: JSON API (OpenAPI at /api/openapi.json), server-sent events, static tablet UI.

Every ``/api/*`` route except ``/api/login`` passes one gate (:class:`SessionGate`): no live
session → 401; a state-changing request without the session's CSRF token or from another
origin → 403. Routes then check the role and the scope (teacher → own sections, advisor and
counsellor → assigned students) and answer 403 outside it. Views of a student's warnings are
written to the audit log. Background work (ingest, report and warnings schedulers) is started by
``cloud_aggregator.runtime``, never by the app.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from cloud_aggregator.store import db

from .context import Resolver, WebContext
from .routers import admin, auth, fleet, live, pages, reports, students, warnings
from .session_gate import SessionGate

if TYPE_CHECKING:
    from cloud_aggregator.config import AggregatorConfig
    from cloud_aggregator.ingest import IngestService
    from cloud_aggregator.store.base import Store

    from .fleet import CommandSender

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "no live session (log in first)"},
    403: {"description": "not allowed for your role or scope, a missing/wrong CSRF token, or a cross-origin request"}}


def create_app(store: Store, config: AggregatorConfig, ingest: IngestService | None = None, *,
               command_sender: CommandSender | None = None, resolver: Resolver | None = None) -> FastAPI:
    """The dashboard + API over ``store``; ``ingest`` (IngestService) feeds live updates and counters when given.

    ``config`` is the AggregatorConfig (its ``dashboard`` section, when present, is a
    ``DashboardConfig``); ``command_sender`` defaults to an MQTT sender using ``config.mqtt``;
    ``resolver`` (window → section, session) to ingest's own.
    """
    db.ensure_web_tables(store)
    web = WebContext.build(store, config, ingest, command_sender=command_sender, resolver=resolver)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        web.hub.bind_loop(asyncio.get_running_loop())  # ingest's thread publishes onto the server's loop
        try:
            yield
        finally:
            if web.command_sender is not None:
                web.command_sender.close()

    app = FastAPI(lifespan=lifespan, title="ClassPulse aggregator API", version="1.0.0", openapi_url="/api/openapi.json",
                  docs_url=None, redoc_url=None,  # Swagger UI would load from a CDN
                  responses=ERROR_RESPONSES,
                  description="Anonymous classroom engagement aggregates, early warnings and the device fleet. "
                              "Log in with POST /api/login (cookie session); send the returned csrf token as "
                              "X-CSRF-Token on every POST/PUT/DELETE.")
    app.add_middleware(SessionGate, store=store, cfg=web.cfg)
    app.state.web = web
    if ingest is not None:
        ingest.subscribe_stored(web.on_stored)
    for r in (pages, auth, live, warnings, students, fleet, reports, admin):
        app.include_router(r.router)
    return app
