"""The risk model's drift checks (``risk_drift``): population stability of features and scores, run by run.

A check is due every few days; each row keeps the PSI values, whether they crossed the threshold and what
was done about it (retrained, recommended), so a version change can be traced to the check behind it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import db
from .warning_tables import RISK_DRIFT

if TYPE_CHECKING:
    from .base import Store


def record_drift(store: Store, row: dict[str, Any]) -> None:
    """Store one drift check (``psi`` already JSON text)."""
    db.insert(store, RISK_DRIFT, [row])


def latest_drift(store: Store) -> dict[str, Any] | None:
    """The latest drift check's row, None when no check ran yet."""
    rows = db.query(store, "SELECT * FROM risk_drift ORDER BY ts DESC LIMIT 1")
    return rows[0] if rows else None
