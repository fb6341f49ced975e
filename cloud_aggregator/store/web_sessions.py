"""The dashboard's login sessions (``web_sessions``): one row per live cookie, keyed by the token's SHA-256.

Only the digest is stored, so a database leak hands out no live session. ``web.auth`` decides expiry,
idle time and when to touch ``last_seen``; these functions read and write the rows it decides on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import db
from .web_tables import WEB_SESSIONS

if TYPE_CHECKING:
    from .base import Store


def add_session(store: Store, token_sha256: str, username: str, csrf: str, created_at: str, expires_at: str) -> None:
    """Store a new session (first seen when it was created)."""
    db.insert(store, WEB_SESSIONS, [{"token_sha256": token_sha256, "username": username, "csrf": csrf,
                                     "created_at": created_at, "expires_at": expires_at, "last_seen": created_at}])


def session_with_user(store: Store, token_sha256: str) -> dict[str, Any] | None:
    """The session's csrf, expires_at and last_seen with every ``web_users`` column of its user, or None when
    the session is unknown or its user is disabled (a disabled account loses its sessions at once)."""
    rows = db.query(store, "SELECT s.csrf, s.expires_at, s.last_seen, u.* FROM web_sessions s JOIN web_users u "
                           "ON u.username = s.username WHERE s.token_sha256 = ? AND u.disabled = 0", (token_sha256,))
    return rows[0] if rows else None


def touch_session(store: Store, token_sha256: str, last_seen: str) -> None:
    """Record activity (the idle timeout counts from ``last_seen``)."""
    db.write(store, "UPDATE web_sessions SET last_seen = ? WHERE token_sha256 = ?", (last_seen, token_sha256))


def end_session(store: Store, token_sha256: str) -> None:
    """Forget one session (logout, expiry, idle timeout)."""
    db.write(store, "DELETE FROM web_sessions WHERE token_sha256 = ?", (token_sha256,))


def end_user_sessions(store: Store, username: str) -> int:
    """Log ``username`` out everywhere (after any credential, role or enabled change); returns sessions ended."""
    return db.write(store, "DELETE FROM web_sessions WHERE username = ?", (username,))
