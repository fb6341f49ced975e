"""Escalations of unacknowledged warnings (``warning_escalations``): one row per step up the chain.

The row count of a warning is its escalation step number, so a message says how often it was passed on.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from . import db
from .base import iso
from .warning_tables import WARNING_ESCALATIONS

if TYPE_CHECKING:
    from .base import Store


def escalation_count(store: Store, warning_id: str) -> int:
    """How many times this warning was escalated so far."""
    return int(db.query(store, "SELECT COUNT(*) AS n FROM warning_escalations WHERE warning_id = ?",
                        (warning_id,))[0]["n"])


def record_escalation(store: Store, warning_id: str, at: datetime, from_role: str | None, to_role: str,
                      reason: str) -> None:
    """Store one escalation (``reason``: manual or timeout)."""
    db.insert(store, WARNING_ESCALATIONS, [{"id": db.new_id(), "warning_id": warning_id, "ts": iso(at),
                                            "from_role": from_role, "to_role": to_role, "reason": reason}])
