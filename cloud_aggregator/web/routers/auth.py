"""Log in and out, who is logged in, and the user's language."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from .. import auth
from ..deps import Web, current_user
from ..schemas.requests import LanguageIn, LoginIn
from ..schemas.responses.auth import LanguageOut, SessionOut
from ..session_gate import session_cookie
from . import THROTTLED

router = APIRouter(tags=["auth"])


def _session(user: auth.User) -> dict[str, Any]:
    return {"user": {"username": user.username, "role": user.role, "display_name": user.display_name,
                     "language": user.language}, "csrf": user.csrf}


@router.post("/api/login", response_model=SessionOut,
             summary="Log in (sets an HttpOnly session cookie; returns the CSRF token)",
             responses={401: {"description": "wrong user name or password"}, **THROTTLED})
def login(body: LoginIn, request: Request, ctx: Web) -> JSONResponse:
    client = ctx.client_of(request)
    refused = ctx.throttle.begin(body.username, client)  # charged before the check: concurrent guesses count
    if refused is not None:
        raise HTTPException(429, "too many failed logins; try again later",
                            headers={"Retry-After": str(int(refused.retry_after_s) + 1)})
    user = auth.authenticate(ctx.store, body.username, body.password, ctx.cfg.auth)
    if user is None:
        raise HTTPException(401, "wrong user name or password")
    ctx.throttle.succeeded(body.username, client)
    token, user = auth.start_session(ctx.store, user, ctx.cfg.auth)
    resp = JSONResponse(_session(user))
    resp.set_cookie(auth.COOKIE, token, httponly=True, samesite="strict", secure=ctx.cfg.auth.secure_cookies,
                    max_age=int(ctx.cfg.auth.session_ttl_h * 3600), path="/")
    return resp


@router.post("/api/logout", status_code=204)
def logout(request: Request, ctx: Web) -> Response:
    current_user(request)
    auth.end_session(ctx.store, session_cookie(request.scope))
    resp = Response(status_code=204)
    resp.delete_cookie(auth.COOKIE, path="/")
    return resp


@router.get("/api/me", response_model=SessionOut, summary="The logged-in user and the session's CSRF token")
def me(request: Request) -> dict[str, Any]:
    return _session(current_user(request))


@router.put("/api/me/language", response_model=LanguageOut)
def set_language(body: LanguageIn, request: Request, ctx: Web) -> dict[str, Any]:
    user = current_user(request)
    auth.set_language(ctx.store, user.username, body.language)
    return {"language": body.language}
