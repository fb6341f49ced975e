"""The delivery outbox (``warning_deliveries``): one row per (warning, step, recipient, channel) and its attempts.

Rows are queued ``pending`` when a warning is routed or escalated and rendered only at send time, so no
message text with a name is stored. Which rows are due, how long to back off and when to give up is
decided in ``warnings.delivery``; a row is never dropped, only its status changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import db
from .base import iso
from .warning_tables import WARNING_DELIVERIES

if TYPE_CHECKING:
    from .base import Store

#: (role, recipient sourced id, channel)
Target = tuple[str, str, str]


def queue(store: Store, warning_id: str, step: int, targets: Sequence[Target], at: datetime) -> int:
    """One pending row per target, due at once; returns the rows added."""
    rows = [{"id": db.new_id(), "warning_id": warning_id, "step": step, "role": role, "recipient": recipient,
             "channel": channel, "status": "pending", "attempts": 0, "next_attempt_at": iso(at), "last_error": None,
             "created_at": iso(at), "sent_at": None} for role, recipient, channel in targets]
    if rows:
        db.insert(store, WARNING_DELIVERIES, rows)
    return len(rows)


def due(store: Store, now: datetime, statuses: Sequence[str]) -> list[dict[str, Any]]:
    """Rows in one of ``statuses`` whose next attempt is due at ``now``, oldest first."""
    return db.query(store, "SELECT * FROM warning_deliveries WHERE status IN "  # noqa: S608
                           f"{db.in_list(statuses)} AND next_attempt_at <= ? ORDER BY created_at, id",
                    [*statuses, iso(now)])


def roles_queued(store: Store, warning_id: str) -> set[str]:
    """The roles this warning was ever queued for (a raised level only tells the roles it adds)."""
    return {r["role"] for r in db.query(store, "SELECT DISTINCT role FROM warning_deliveries WHERE warning_id = ?",
                                        (warning_id,))}


def record_retry(store: Store, delivery_id: str, status: str, attempts: int, error: str,
                 next_attempt: datetime) -> None:
    """A failed attempt: its status (still ``pending``, or ``failed`` when out of attempts), error and next try."""
    db.write(store, "UPDATE warning_deliveries SET status = ?, attempts = ?, last_error = ?, next_attempt_at = ? "
                    "WHERE id = ?", (status, attempts, error, iso(next_attempt), delivery_id))


def record_outcome(store: Store, delivery_id: str, status: str, attempts: int, error: str | None,
                   sent_at: datetime | None) -> None:
    """A finished attempt: sent (with its time), or settled without sending (no address, suppressed, …)."""
    db.write(store, "UPDATE warning_deliveries SET status = ?, attempts = ?, last_error = ?, sent_at = ? WHERE id = ?",
             (status, attempts, error, iso(sent_at) if sent_at else None, delivery_id))


def counts_by_status(store: Store) -> dict[str, int]:
    """Rows per status (the outbox at a glance)."""
    rows = db.query(store, "SELECT status, COUNT(*) AS n FROM warning_deliveries GROUP BY status")
    return {r["status"]: r["n"] for r in rows}


def sent_to(store: Store, warning_id: str, recipient: str) -> bool:
    """Whether the warning was routed to this staff member (a teacher may act only on those)."""
    return bool(db.query(store, "SELECT 1 FROM warning_deliveries WHERE warning_id = ? AND recipient = ? LIMIT 1",
                         (warning_id, recipient)))
