"""The warnings engine's run history (``warning_runs``): one row per scoring run, written even when it failed.

Each run says which rules version produced its warnings, what it counted and how fresh each source was,
so a list of warnings can always be traced to the run and the data behind it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from . import db
from .warning_tables import WARNING_RUNS

if TYPE_CHECKING:
    from .base import Store


def record_run(store: Store, run: dict[str, Any]) -> None:
    """Store one run's row (``counts`` and ``freshness`` already JSON text, as the run's record shows them)."""
    db.insert(store, WARNING_RUNS, [run])


def recent_runs(store: Store, limit: int) -> list[dict[str, Any]]:
    """The latest ``limit`` runs, newest first, with their counts and freshness decoded."""
    rows = db.query(store, "SELECT * FROM warning_runs ORDER BY started_at DESC LIMIT ?", (limit,))
    for r in rows:
        r["counts"], r["freshness"] = json.loads(r["counts"] or "{}"), json.loads(r["freshness"] or "{}")
    return rows
