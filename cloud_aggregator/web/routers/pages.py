"""The tablet UI's files (index, manifest, service worker, static assets) and the health probe: no session."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
                ".json": "application/json", ".svg": "image/svg+xml", ".png": "image/png",
                ".webmanifest": "application/manifest+json", ".html": "text/html; charset=utf-8"}
router = APIRouter(include_in_schema=False)


def _static_text(*parts: str) -> str:
    return resources.files("cloud_aggregator.web").joinpath("static", *parts).read_text(encoding="utf-8")


def _static_bytes(*parts: str) -> bytes:
    return resources.files("cloud_aggregator.web").joinpath("static", *parts).read_bytes()


@router.get("/", response_class=HTMLResponse)
def index() -> Response:
    return HTMLResponse(_static_text("index.html"), headers={"Cache-Control": "no-cache"})


@router.get("/manifest.webmanifest")
def manifest() -> Response:
    return Response(_static_text("manifest.webmanifest"), media_type=STATIC_TYPES[".webmanifest"])


@router.get("/sw.js")
def service_worker() -> Response:
    return Response(_static_text("sw.js"), media_type=STATIC_TYPES[".js"],
                    headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"})


@router.get("/static/{path:path}")
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


@router.get("/healthz")
def healthz() -> dict[str, bool]:
    return {"ok": True}
