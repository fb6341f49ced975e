"""Login and enrolment throttling that holds under concurrent requests and across processes.

Counters live in the store (``web_throttle``), and each check-and-charge is **one** atomic
``INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING`` statement: the database decides which of N
concurrent attempts still fit, so uvicorn workers or aggregator processes sharing one database share
the limits, and nothing can slip between "check" and "count". An attempt is charged *before* the
password is checked; a successful login refunds it.

Three counters (OWASP ASVS 4.0 V2.2.1: resist brute force *and* account-lockout attacks):

* per (user, address): ``login_attempts`` free tries, then an exponential delay (``login_delay_s``
  doubling up to ``login_max_delay_s``); forgotten after ``login_window_s`` of quiet past the delay.
  A delay, not a lockout: the right password works again as soon as the delay has passed.
* per address: ``address_attempts`` failures per ``login_window_s`` block that address (spraying
  many user names from one place);
* per user name: ``user_attempts`` failures per ``user_window_s`` block the name (a guessing botnet).

A (user, address) pair that logged in successfully within ``known_days`` is exempt from the address
and user blocks — only its own pair delay applies — so an attacker elsewhere, or behind the same
school NAT, cannot lock the real user out; they can only slow their own pair.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cloud_aggregator.config.web import AuthConfig
from cloud_aggregator.store.web_tables import WEB_LOGIN_KNOWN, WEB_THROTTLE

_T = WEB_THROTTLE.name


def _addr_key(address: str) -> str:
    return hashlib.sha256(address.encode("utf-8", "replace")).hexdigest()[:32]  # no raw addresses at rest


@dataclass(frozen=True)
class Refused:
    """A throttled attempt: why, and when to retry."""

    reason: str
    retry_after_s: float


def _returning(store: Any, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:  # noqa: ANN401
    """One DML statement with RETURNING, committed (the web's ``db.write`` does not return rows)."""
    with store.lock:
        try:
            rows = store.db.query(sql, params)
            store.db.commit()
        except BaseException:
            store.db.rollback()
            raise
        return rows


def _least(store: Any) -> str:  # noqa: ANN401
    return "MIN" if store.db.dialect == "sqlite" else "LEAST"


def charge_window(store: Any, key: str, limit: int, window_s: float, now: float) -> bool:  # noqa: ANN401
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


def charge_delay(store: Any, key: str, free: int, base_s: float, max_s: float, forget_s: float,  # noqa: ANN401
                 now: float) -> bool:
    """Count one attempt on ``key`` unless it is inside its delay; past ``free`` attempts each one
    sets a delay of ``base_s`` · 2^(n − free), at most ``max_s``."""
    least = _least(store)
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


def refund(store: Any, key: str) -> None:  # noqa: ANN401
    _returning(store, f"UPDATE {_T} SET fails = fails - 1 WHERE tkey = ? AND fails > 0 RETURNING fails", (key,))  # noqa: S608


def clear(store: Any, key: str) -> None:  # noqa: ANN401
    _returning(store, f"DELETE FROM {_T} WHERE tkey = ? RETURNING tkey", (key,))  # noqa: S608


def wait_s(store: Any, keys: Sequence[str], cfg: AuthConfig, now: float) -> float:  # noqa: ANN401
    """Seconds until the slowest of ``keys`` lets an attempt through again (for ``Retry-After``)."""
    from cloud_aggregator.store import db

    rows = db.query(store, f"SELECT tkey, window_start, blocked_until FROM {_T} WHERE tkey IN {db.in_list(keys)}",  # noqa: S608
                    list(keys))
    waits = [0.0]
    for r in rows:
        if r["tkey"].startswith("pair:"):
            waits.append(float(r["blocked_until"]) - now)
        else:
            span = cfg.user_window_s if r["tkey"].startswith("user:") else cfg.login_window_s
            waits.append(float(r["window_start"]) + span - now)
    return max(waits)


def prune(store: Any, cfg: AuthConfig, now: float) -> int:  # noqa: ANN401
    """Drop counters that can no longer refuse anything and pairs not seen for ``known_days`` (bounded tables)."""
    from cloud_aggregator.store import db

    idle = now - max(cfg.login_window_s, cfg.user_window_s)
    n = db.write(store, f"DELETE FROM {_T} WHERE blocked_until <= ? AND window_start <= ?",  # noqa: S608
                 (now - cfg.login_window_s, idle))
    return n + db.write(store, f"DELETE FROM {WEB_LOGIN_KNOWN.name} WHERE last_ok <= ?",  # noqa: S608
                        (now - cfg.known_days * 86400,))


class LoginThrottle:
    """The three login counters and the enrolment counter over one store (see the module docstring)."""

    PRUNE_EVERY = 256  # attempts between clean-ups of old rows

    def __init__(self, store: Any, cfg: AuthConfig):  # noqa: ANN401
        self.store, self.cfg = store, cfg
        self._attempts = 0

    @staticmethod
    def _keys(username: str, address: str) -> tuple[str, str, str]:
        name, addr = username.lower()[:64], _addr_key(address)
        return f"pair:{name}|{addr}", f"addr:{addr}", f"user:{name}"

    def _known(self, username: str, address: str, now: float) -> bool:
        from cloud_aggregator.store import db

        since = now - self.cfg.known_days * 86400
        return bool(db.query(self.store, f"SELECT 1 FROM {WEB_LOGIN_KNOWN.name} WHERE username = ? AND addr = ? "  # noqa: S608
                                         "AND last_ok > ?", (username.lower()[:64], _addr_key(address), since)))

    def begin(self, username: str, address: str) -> Refused | None:
        """Charge one login attempt before the password is checked; a ``Refused`` means answer 429."""
        c, now = self.cfg, time.time()
        self._attempts += 1
        if self._attempts % self.PRUNE_EVERY == 1:
            prune(self.store, c, now)
        pair, addr, user = self._keys(username, address)
        charged: list[str] = []
        if not self._known(username, address, now):
            for key, limit, span, why in ((addr, c.address_attempts, c.login_window_s, "address"),
                                          (user, c.user_attempts, c.user_window_s, "user")):
                if not charge_window(self.store, key, limit, span, now):
                    for k in charged:
                        refund(self.store, k)
                    return Refused(why, wait_s(self.store, [key], c, now))
                charged.append(key)
        if not charge_delay(self.store, pair, c.login_attempts, c.login_delay_s, c.login_max_delay_s,
                            c.login_window_s, now):
            for k in charged:
                refund(self.store, k)
            return Refused("pair", wait_s(self.store, [pair], c, now))
        return None

    def succeeded(self, username: str, address: str) -> None:
        """The password was right: refund the charges and remember this (user, address) pair."""
        from cloud_aggregator.store import db

        pair, addr, user = self._keys(username, address)
        clear(self.store, pair)
        refund(self.store, addr)
        refund(self.store, user)
        db.insert(self.store, WEB_LOGIN_KNOWN, [{"username": username.lower()[:64], "addr": _addr_key(address),
                                                 "last_ok": time.time()}])

    def begin_enrol(self, address: str) -> Refused | None:
        """Charge one enrolment-token guess from ``address`` (refunded when the token was good)."""
        key = f"enrol:{_addr_key(address)}"
        if charge_window(self.store, key, self.cfg.login_attempts, self.cfg.login_window_s, time.time()):
            return None
        return Refused("address", wait_s(self.store, [key], self.cfg, time.time()))

    def enrol_succeeded(self, address: str) -> None:
        refund(self.store, f"enrol:{_addr_key(address)}")
