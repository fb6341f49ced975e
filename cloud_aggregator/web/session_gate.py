"""The one gate in front of the API: no live session → 401; a state-changing request without the session's
CSRF token or from another origin → 403. Every answer also carries the security headers, and API answers
``Cache-Control: no-store`` (they are personal)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any

from fastapi.concurrency import run_in_threadpool

from cloud_aggregator.config.web import DashboardConfig

from . import auth

if TYPE_CHECKING:
    from cloud_aggregator.store.base import Store

PUBLIC_API = {"/api/login", "/api/enrol"}  # enrol: the one-time token is the credential
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"),
                    (b"content-security-policy", b"default-src 'self'; img-src 'self' data: blob:; "
                                                 b"style-src 'self'; script-src 'self'; object-src 'none'; "
                                                 b"frame-ancestors 'none'; base-uri 'none'")]


def session_cookie(scope: Mapping[str, Any]) -> str | None:
    """The session token from the request's cookie header (a malformed header is no session)."""
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


def header(scope: Mapping[str, Any], name: bytes) -> str | None:
    for k, v in scope.get("headers", []):
        if k == name:
            return v.decode("latin-1")
    return None


class SessionGate:
    """ASGI middleware: the one place that says 401 (no session) or 403 (CSRF / cross-origin)."""

    def __init__(self, app: Any, store: Store, cfg: DashboardConfig):  # noqa: ANN401 - the wrapped ASGI app
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
        user = await run_in_threadpool(auth.session_user, self.store, session_cookie(scope), self.cfg.auth)
        if user is None:
            await self._deny(send_secure, 401, "login required")
            return
        if method in UNSAFE:
            if not self._same_origin(scope):
                await self._deny(send_secure, 403, "cross-origin request refused")
                return
            if not auth.csrf_ok(user, header(scope, auth.CSRF_HEADER.lower().encode())):
                await self._deny(send_secure, 403, "missing or wrong CSRF token")
                return
        scope.setdefault("state", {})["user"] = user
        await self.app(scope, receive, send_secure)

    @staticmethod
    def _same_origin(scope: dict[str, Any]) -> bool:
        origin = header(scope, b"origin")
        if origin is None:  # same-origin fetches from older browsers; SameSite=Strict still applies
            return True
        host = header(scope, b"host") or ""
        return origin.split("://", 1)[-1] == host

    @staticmethod
    async def _deny(send: Any, status: int, detail: str) -> None:  # noqa: ANN401
        body = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": body})
