"""Login and enrolment throttle counters (``web_throttle``) and the (user, address) pairs that logged in.

Each charge is **one** atomic ``INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING`` statement, so the
database decides which of N concurrent attempts still fit: uvicorn workers or aggregator processes sharing
one database share the limits, and nothing slips between "check" and "count". The policy (which keys,
which limits, when an attempt is refunded) is ``web.throttle``'s; addresses arrive here already hashed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import db
from .web_tables import WEB_LOGIN_KNOWN, WEB_THROTTLE

if TYPE_CHECKING:
    from .base import Store

_T = WEB_THROTTLE.name


def _returning(store: Store, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    """One DML statement with RETURNING, committed (``db.write`` returns a count, not the rows)."""
    with store.lock:
        try:
            rows = store.db.query(sql, params)
            store.db.commit()
        except BaseException:
            store.db.rollback()
            raise
        return rows


def charge_window(store: Store, key: str, limit: int, window_s: float, now: float) -> bool:
    """Count one attempt on ``key`` if fewer than ``limit`` were counted in its current window."""
    expired = f"{_T}.window_start <= ?"
    rows = _returning(store, (
        f"INSERT INTO {_T} (tkey, fails, window_start, blocked_until) VALUES (?, 1, ?, 0) "  # noqa: S608
        f"ON CONFLICT (tkey) DO UPDATE SET "
        f"fails = CASE WHEN {expired} THEN 1 ELSE {_T}.fails + 1 END, "
        f"window_start = CASE WHEN {expired} THEN ? ELSE {_T}.window_start END "
        f"WHERE {expired} OR {_T}.fails < ? RETURNING fails"),
        (key, now, now - window_s, now - window_s, now, now - window_s, limit))
    return bool(rows)


def charge_delay(store: Store, key: str, free: int, base_s: float, max_s: float, forget_s: float,
                 now: float) -> bool:
    """Count one attempt on ``key`` unless it is inside its delay; past ``free`` attempts each one
    sets a delay of ``base_s`` · 2^(n − free), at most ``max_s``."""
    least = "MIN" if store.db.dialect == "sqlite" else "LEAST"
    fails = f"(CASE WHEN {_T}.blocked_until <= ? THEN 1 ELSE {_T}.fails + 1 END)"
    delay = f"(CASE WHEN {fails} < ? THEN 0 ELSE {least}(?, ? * (1 << CAST({least}({fails} - ?, 20) AS INTEGER))) END)"
    first_delay = 0.0 if free > 1 else base_s
    rows = _returning(store, (
        f"INSERT INTO {_T} (tkey, fails, window_start, blocked_until) VALUES (?, 1, ?, ?) "  # noqa: S608
        f"ON CONFLICT (tkey) DO UPDATE SET fails = {fails}, window_start = ?, blocked_until = ? + {delay} "
        f"WHERE {_T}.blocked_until <= ? RETURNING fails"),
        (key, now, now + first_delay,
         now - forget_s, now, now, now - forget_s, free, max_s, base_s, now - forget_s, free, now))
    return bool(rows)


def refund(store: Store, key: str) -> None:
    """Take back one counted attempt (a right password, a good enrolment token, a charge that was refused later)."""
    db.write(store, f"UPDATE {_T} SET fails = fails - 1 WHERE tkey = ? AND fails > 0", (key,))  # noqa: S608


def clear(store: Store, key: str) -> None:
    """Forget ``key``'s counter and delay."""
    db.write(store, f"DELETE FROM {_T} WHERE tkey = ?", (key,))  # noqa: S608


def counters(store: Store, keys: Sequence[str]) -> list[dict[str, Any]]:
    """``tkey``, ``window_start`` and ``blocked_until`` of the stored counters among ``keys`` (for Retry-After)."""
    return db.query(store, f"SELECT tkey, window_start, blocked_until FROM {_T} WHERE tkey IN {db.in_list(keys)}",  # noqa: S608
                    list(keys))


def prune(store: Store, unblocked_before: float, idle_before: float, known_before: float) -> int:
    """Drop counters whose delay ended before ``unblocked_before`` and whose window began before
    ``idle_before``, and pairs last seen before ``known_before``, so both tables stay bounded; returns rows gone."""
    n = db.write(store, f"DELETE FROM {_T} WHERE blocked_until <= ? AND window_start <= ?",  # noqa: S608
                 (unblocked_before, idle_before))
    return n + db.write(store, f"DELETE FROM {WEB_LOGIN_KNOWN.name} WHERE last_ok <= ?", (known_before,))  # noqa: S608


def known_pair(store: Store, username: str, addr: str, since: float) -> bool:
    """Whether this (user, hashed address) pair logged in successfully after ``since`` (exempt from the
    address and user blocks)."""
    return bool(db.query(store, f"SELECT 1 FROM {WEB_LOGIN_KNOWN.name} WHERE username = ? AND addr = ? "  # noqa: S608
                                "AND last_ok > ?", (username, addr, since)))


def remember_pair(store: Store, username: str, addr: str, at: float) -> None:
    """Record a successful login of ``username`` from the hashed address ``addr``."""
    db.insert(store, WEB_LOGIN_KNOWN, [{"username": username, "addr": addr, "last_ok": at}])
