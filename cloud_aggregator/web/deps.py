"""FastAPI dependencies of the routers: the app's ``WebContext``, the gate's user and role checks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

from . import auth
from .context import WebContext


def web_context(request: Request) -> WebContext:
    return request.app.state.web


#: a handler parameter ``ctx: Web`` receives the app's WebContext
Web = Annotated[WebContext, Depends(web_context)]


def current_user(request: Request) -> auth.User:
    """The user ``SessionGate`` put on the request."""
    user = getattr(request.state, "user", None)
    if user is None:  # the gate guarantees this for /api/*; defensive for routes mounted elsewhere
        raise HTTPException(401, "login required")
    return user


def role(*roles: str) -> Any:  # noqa: ANN401 - a FastAPI dependency
    """``user: auth.User = role("teacher", "admin")``: the logged-in user, 403 for any other role."""
    def dep(request: Request) -> auth.User:
        user = current_user(request)
        if user.role not in roles:
            raise HTTPException(403, f"not allowed for role {user.role}")
        return user
    return Depends(dep)
