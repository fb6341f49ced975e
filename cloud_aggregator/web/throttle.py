"""Login and enrolment throttling that holds under concurrent requests and across processes.

Counters live in the store (``store.login_throttle``), and each check-and-charge is **one** atomic
statement there: the database decides which of N concurrent attempts still fit, so uvicorn workers or
aggregator processes sharing one database share the limits, and nothing can slip between "check" and
"count". An attempt is charged *before* the password is checked; a successful login refunds it.

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
from typing import TYPE_CHECKING

from cloud_aggregator.config.web import AuthConfig
from cloud_aggregator.store import login_throttle

if TYPE_CHECKING:
    from cloud_aggregator.store import Store


def _addr_key(address: str) -> str:
    return hashlib.sha256(address.encode("utf-8", "replace")).hexdigest()[:32]  # no raw addresses at rest


@dataclass(frozen=True)
class Refused:
    """A throttled attempt: why, and when to retry."""

    reason: str
    retry_after_s: float


def wait_s(store: Store, keys: Sequence[str], cfg: AuthConfig, now: float) -> float:
    """Seconds until the slowest of ``keys`` lets an attempt through again (for ``Retry-After``)."""
    waits = [0.0]
    for r in login_throttle.counters(store, keys):
        if r["tkey"].startswith("pair:"):
            waits.append(float(r["blocked_until"]) - now)
        else:
            span = cfg.user_window_s if r["tkey"].startswith("user:") else cfg.login_window_s
            waits.append(float(r["window_start"]) + span - now)
    return max(waits)


def prune(store: Store, cfg: AuthConfig, now: float) -> int:
    """Drop counters that can no longer refuse anything and pairs not seen for ``known_days`` (bounded tables)."""
    idle = now - max(cfg.login_window_s, cfg.user_window_s)
    return login_throttle.prune(store, now - cfg.login_window_s, idle, now - cfg.known_days * 86400)


class LoginThrottle:
    """The three login counters and the enrolment counter over one store (see the module docstring)."""

    PRUNE_EVERY = 256  # attempts between clean-ups of old rows

    def __init__(self, store: Store, cfg: AuthConfig):
        self.store, self.cfg = store, cfg
        self._attempts = 0

    @staticmethod
    def _keys(username: str, address: str) -> tuple[str, str, str]:
        name, addr = username.lower()[:64], _addr_key(address)
        return f"pair:{name}|{addr}", f"addr:{addr}", f"user:{name}"

    def _known(self, username: str, address: str, now: float) -> bool:
        since = now - self.cfg.known_days * 86400
        return login_throttle.known_pair(self.store, username.lower()[:64], _addr_key(address), since)

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
                if not login_throttle.charge_window(self.store, key, limit, span, now):
                    for k in charged:
                        login_throttle.refund(self.store, k)
                    return Refused(why, wait_s(self.store, [key], c, now))
                charged.append(key)
        if not login_throttle.charge_delay(self.store, pair, c.login_attempts, c.login_delay_s,
                                           c.login_max_delay_s, c.login_window_s, now):
            for k in charged:
                login_throttle.refund(self.store, k)
            return Refused("pair", wait_s(self.store, [pair], c, now))
        return None

    def succeeded(self, username: str, address: str) -> None:
        """The password was right: refund the charges and remember this (user, address) pair."""
        pair, addr, user = self._keys(username, address)
        login_throttle.clear(self.store, pair)
        login_throttle.refund(self.store, addr)
        login_throttle.refund(self.store, user)
        login_throttle.remember_pair(self.store, username.lower()[:64], _addr_key(address), time.time())

    def begin_enrol(self, address: str) -> Refused | None:
        """Charge one enrolment-token guess from ``address`` (refunded when the token was good)."""
        key = f"enrol:{_addr_key(address)}"
        if login_throttle.charge_window(self.store, key, self.cfg.login_attempts, self.cfg.login_window_s,
                                        time.time()):
            return None
        return Refused("address", wait_s(self.store, [key], self.cfg, time.time()))

    def enrol_succeeded(self, address: str) -> None:
        login_throttle.refund(self.store, f"enrol:{_addr_key(address)}")
