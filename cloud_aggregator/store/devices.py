"""The device registry's reads and writes: where each device is enrolled and what its enrolment tokens say.

``device_registry`` decides (identity checks, the broker ACL, refusals); these only read and write the
``devices`` and ``enrol_tokens`` rows, under the Store's lock, each write in its own transaction. Tokens
are known by their SHA-256 only, as :meth:`Store.issue_token` stores them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

from . import db
from .base import now_iso

if TYPE_CHECKING:
    from .base import Store

_REVOKE = "UPDATE enrol_tokens SET expires_at = ? WHERE device = ? AND redeemed_at IS NULL"


def registered_rooms(store: Store, devices: Iterable[str | None]) -> dict[str, tuple[str, str]]:
    """(site, room) of each of ``devices`` that is in the registry; the others are absent."""
    out: dict[str, tuple[str, str]] = {}
    for chunk in db.chunks(sorted({d for d in devices if d})):
        rows = db.query(store, f"SELECT device, site, room FROM devices WHERE device IN {db.in_list(chunk)}",  # noqa: S608
                        chunk)
        out.update({r["device"]: (r["site"], r["room"]) for r in rows})
    return out


def device_room(store: Store, device: str) -> tuple[str, str] | None:
    """Where one device is registered (None: not in the registry)."""
    rows = db.query(store, "SELECT site, room FROM devices WHERE device = ?", (device,))
    return (rows[0]["site"], rows[0]["room"]) if rows else None


def has_redeemed_token(store: Store, device: str) -> bool:
    """Whether a token for ``device`` was ever redeemed (it then holds broker credentials)."""
    return bool(db.query(store, "SELECT 1 AS x FROM enrol_tokens WHERE device = ? AND redeemed_at IS NOT NULL "
                                "LIMIT 1", (device,)))


def pending_tokens(store: Store, device: str) -> int:
    """Tokens for ``device`` that are unused and not yet expired."""
    rows = db.query(store, "SELECT COUNT(*) AS n FROM enrol_tokens WHERE device = ? AND redeemed_at IS NULL "
                           "AND expires_at > ?", (device, now_iso()))
    return int(rows[0]["n"])


def token_device(store: Store, token: str) -> str | None:
    """The device an enrolment token names (None: no such token); read-only, the token stays unused."""
    digest = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
    rows = db.query(store, "SELECT device FROM enrol_tokens WHERE token_sha256 = ?", (digest,))
    return rows[0]["device"] if rows else None


def revoke_tokens(store: Store, device: str) -> int:
    """Expire every unused token of ``device`` now (a re-key replaces them); returns how many."""
    return db.write(store, _REVOKE, (now_iso(), device))


def move_device(store: Store, device: str, site: str, room: str) -> tuple[str, str] | None:
    """Move a registered device and expire its unused tokens in one transaction (an unused token still names
    the old room and would move the device back when redeemed); returns its previous (site, room), or None
    and changes nothing when the device is not registered."""
    with db.transaction(store) as tx:
        rows = tx.query("SELECT site, room FROM devices WHERE device = ?", (device,))
        if rows:
            tx.execute("UPDATE devices SET site = ?, room = ? WHERE device = ?", (site, room, device))
            tx.execute(_REVOKE, (now_iso(), device))
    return (rows[0]["site"], rows[0]["room"]) if rows else None
