"""Web app: live engagement per room (server-sent events) and the JSON API behind it.

The first dashboard slice: a page a tablet can keep open during class. Roles,
the counsellor workspace and the fleet view are built on this app.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from classpulse_contract import Aggregate
from cloud_aggregator.config import AggregatorConfig
from cloud_aggregator.store import Store
from cloud_aggregator.web.events import EventHub

SSE_KEEPALIVE_S = 15.0


def _static(name: str) -> str:
    return resources.files("cloud_aggregator.web").joinpath("static", name).read_text(encoding="utf-8")


def create_app(store: Store, config: AggregatorConfig, ingest=None) -> FastAPI:  # noqa: ANN001 - IngestService
    app = FastAPI(title="ClassPulse aggregator", version="0.1.0",
                  description="Anonymous classroom engagement aggregates, early warnings and device fleet.")
    hub = EventHub()
    app.state.hub = hub
    app.state.store = store

    @app.on_event("startup")
    async def _bind() -> None:
        hub.bind_loop(asyncio.get_running_loop())

    if ingest is not None:
        def on_stored(aggs: list[Aggregate]) -> None:
            for a in aggs:
                hub.publish("aggregate", a.model_dump(mode="json", by_alias=True))

        ingest.subscribe_stored(on_stored)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def live_page() -> str:
        return _static("live.html")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        types = {".js": "text/javascript", ".css": "text/css", ".webmanifest": "application/manifest+json",
                 ".svg": "image/svg+xml"}
        ext = "." + name.rsplit(".", 1)[-1] if "." in name else ""
        if ext not in types or "/" in name or name.startswith("."):
            return Response(status_code=404)
        try:
            return Response(_static(name), media_type=types[ext])
        except FileNotFoundError:
            return Response(status_code=404)

    @app.get("/healthz")
    def healthz() -> dict:
        stats = ingest.stats.__dict__ if ingest is not None else {}
        return {"ok": True, "ingest": stats, "sse_clients": hub.n_clients}

    @app.get("/api/rooms/latest")
    def rooms_latest() -> JSONResponse:
        return JSONResponse(store.latest_per_room())

    @app.get("/api/rooms/{room}/aggregates")
    def room_history(room: str, since: str = "0000", until: str | None = None) -> JSONResponse:
        return JSONResponse(store.room_aggregates(room, since, until))

    @app.get("/api/devices")
    def devices() -> JSONResponse:
        return JSONResponse(store.devices())

    @app.get("/api/events")
    async def events(request: Request) -> StreamingResponse:
        q = hub.subscribe()

        async def stream() -> AsyncIterator[str]:
            try:
                yield "retry: 2000\n\n"
                while not await request.is_disconnected():
                    try:
                        yield await asyncio.wait_for(q.get(), timeout=SSE_KEEPALIVE_S)
                    except asyncio.TimeoutError:
                        yield ": keep-alive\n\n"
            finally:
                hub.unsubscribe(q)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    return app
