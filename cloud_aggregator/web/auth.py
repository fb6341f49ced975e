"""Users, password hashing, sessions and CSRF tokens.

Passwords are stored as scrypt hashes (stdlib ``hashlib.scrypt``, per-user salt, cost in the
hash so it can be raised later). A session is a random token in an HttpOnly SameSite=Strict
cookie; only its SHA-256 is stored, so a database leak does not hand out live sessions. Every
state-changing request must also echo the session's CSRF token in a header. Failed logins are
throttled in ``throttle.py``, and an unknown user costs the same scrypt work as a known one (no user
enumeration by timing).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from cloud_aggregator.config.web import AuthConfig
from cloud_aggregator.store import iso, web_sessions, web_users
from cloud_aggregator.store.web_tables import ROLES

from .passwords import password_problem

if TYPE_CHECKING:
    from cloud_aggregator.store import Store

COOKIE = "cp_session"
CSRF_HEADER = "X-CSRF-Token"
_R, _P = 8, 1


class AuthError(ValueError):
    """Bad user definition (unknown role, short password, bad name)."""


def hash_password(password: str, n: int = 2**14) -> str:
    salt = secrets.token_bytes(16)
    dk = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=_R, p=_P, dklen=32, maxmem=256 * 1024 * 1024)
    return f"scrypt${n}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(dk).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, dk = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=32, maxmem=256 * 1024 * 1024)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(dk))


@dataclass(frozen=True)
class User:
    username: str
    role: str
    staff_sourced_id: str | None
    display_name: str
    language: str
    csrf: str = ""


def create_user(store: Store, username: str, password: str, role: str, *, staff_sourced_id: str | None = None,
                display_name: str = "", language: str = "zh-CN", scrypt_n: int = 2**14) -> User:
    """Create or replace a dashboard user (teachers/advisors/counsellors link to their records staff id)."""
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if not username or len(username) > 64 or not all(c.isalnum() or c in "._-@" for c in username):
        raise AuthError("user name: 1-64 letters, digits or . _ - @")
    check_password(password, username)
    if role in ("teacher", "advisor", "counsellor") and not staff_sourced_id:
        raise AuthError(f"a {role} must be linked to a staff sourced id from the records")
    if language not in ("en", "zh-CN"):
        raise AuthError("language: en or zh-CN")
    web_users.save_user(store, username, hash_password(password, scrypt_n), role, staff_sourced_id,
                        display_name or username, language)
    web_sessions.end_user_sessions(store, username)  # a replaced user (new password, role or staff link) starts afresh
    return User(username, role, staff_sourced_id, display_name or username, language)


def check_password(password: str, username: str) -> None:
    """Raise AuthError when the password rule (``passwords.py``) refuses ``password`` for ``username``."""
    problem = password_problem(password, username)
    if problem:
        raise AuthError(problem)


def _user(row: dict[str, Any], csrf: str = "") -> User:
    return User(row["username"], row["role"], row["staff_sourced_id"], row["display_name"] or row["username"],
                row["language"] or "zh-CN", csrf)


_DUMMY_HASH: str | None = None


def authenticate(store: Store, username: str, password: str, cfg: AuthConfig) -> User | None:
    global _DUMMY_HASH  # noqa: PLW0603 - computed once, lazily
    row = web_users.enabled_user(store, username[:64])
    if row is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = hash_password("not-a-password", cfg.scrypt_n)
        verify_password(password, _DUMMY_HASH)  # same cost as a real check
        return None
    return _user(row) if verify_password(password, row["pw_hash"]) else None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def start_session(store: Store, user: User, cfg: AuthConfig) -> tuple[str, User]:
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    now = datetime.now(timezone.utc)
    web_sessions.add_session(store, _digest(token), user.username, csrf, iso(now),
                             iso(now + timedelta(hours=cfg.session_ttl_h)))
    return token, User(user.username, user.role, user.staff_sourced_id, user.display_name, user.language, csrf)


# last_seen is written at most this often per session (a tablet polls; no write per request)
_TOUCH_S = 60.0


def session_user(store: Store, token: str | None, cfg: AuthConfig) -> User | None:
    """The user of a live session, or None (unknown, expired, idle too long, or user disabled)."""
    if not token or len(token) > 128:
        return None
    digest = _digest(token)
    r = web_sessions.session_with_user(store, digest)
    if r is None:
        return None
    now = datetime.now(timezone.utc)
    if r["expires_at"] <= iso(now) or r["last_seen"] <= iso(now - timedelta(minutes=cfg.idle_timeout_min)):
        web_sessions.end_session(store, digest)
        return None
    if r["last_seen"] <= iso(now - timedelta(seconds=_TOUCH_S)):
        web_sessions.touch_session(store, digest, iso(now))
    return _user(r, r["csrf"])


def end_session(store: Store, token: str | None) -> None:
    if token:
        web_sessions.end_session(store, _digest(token))


def set_language(store: Store, username: str, language: str) -> None:
    if language not in ("en", "zh-CN"):
        raise AuthError("language: en or zh-CN")
    web_users.set_language(store, username, language)


def csrf_ok(user: User, header: str | None) -> bool:
    return bool(header and user.csrf and hmac.compare_digest(header.encode(), user.csrf.encode()))
