"""The trained risk model's versions (``risk_models``): one row per training, exactly one of them active.

The model itself is a file next to the database, checked against the row's sha256 before it scores;
the row keeps what it was trained on (window, rows, students), its held-out metrics and fairness.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import db
from .warning_tables import RISK_MODELS

if TYPE_CHECKING:
    from .base import Store


def activate_model(store: Store, row: dict[str, Any]) -> None:
    """Store a newly trained version as the only active one."""
    db.write(store, "UPDATE risk_models SET active = 0 WHERE active = 1")
    db.insert(store, RISK_MODELS, [{**row, "active": 1}])


def active_model(store: Store) -> dict[str, Any] | None:
    """The active version's row as stored (metrics, fairness and features as JSON text), None: rules only."""
    rows = db.query(store, "SELECT * FROM risk_models WHERE active = 1 ORDER BY created_at DESC LIMIT 1")
    return rows[0] if rows else None
