"""What the retention job reads and writes: raw windows to roll up, their summaries, and the rows it deletes.

``cloud_aggregator.retention`` decides which weeks to roll up and where the cut-offs fall; these run the
reads and the deletes, each write in its own transaction under the Store's lock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import db
from .migrations import SESSION_SUMMARIES, WEEK_SUMMARIES

if TYPE_CHECKING:
    from .base import Store

#: warnings bookkeeping table → (timestamp column, extra condition); pending deliveries are never pruned
_WARNING_ROWS = {
    "warning_runs": ("started_at", ""),
    "warning_deliveries": ("created_at", " AND status <> 'pending'"),
    "warning_escalations": ("ts", ""),
    "risk_drift": ("ts", ""),
}


def windows_between(store: Store, start: str, end: str) -> list[dict[str, Any]]:
    """Raw windows that started in [start, end): room, section, session and the measures a summary averages."""
    return db.query(store, "SELECT site, room, section_id, session_id, window_start, window_end, attention_share, "
                           "engagement, speech_share, hand_raises, n_faces FROM aggregates "
                           "WHERE window_start >= ? AND window_start < ?", (start, end))


def earliest_window(store: Store) -> str | None:
    """Start of the oldest raw window still stored (None: no aggregates)."""
    rows = db.query(store, "SELECT MIN(window_start) AS m FROM aggregates")
    return rows[0]["m"] if rows else None


def save_summaries(store: Store, sessions: Sequence[dict[str, Any]], weeks: Sequence[dict[str, Any]]) -> None:
    """Upsert session and week summaries in one transaction (a re-run replaces the same keys)."""
    with db.transaction(store) as tx:
        tx.upsert_many(SESSION_SUMMARIES, sessions)
        tx.upsert_many(WEEK_SUMMARIES, weeks)


def delete_windows_before(store: Store, cutoff: str) -> int:
    """Delete raw windows that started before ``cutoff`` (already rolled up); returns how many."""
    return db.write(store, "DELETE FROM aggregates WHERE window_start < ?", (cutoff,))


def prune_warning_rows(store: Store, cutoffs: Mapping[str, str]) -> dict[str, int]:
    """Delete rows older than its cut-off from each warnings table in ``cutoffs`` (warning_runs,
    warning_deliveries, warning_escalations, risk_drift), in one transaction; returns rows deleted per table."""
    out = {}
    with db.transaction(store) as tx:
        for table, cutoff in cutoffs.items():
            col, extra = _WARNING_ROWS[table]
            out[table] = tx.execute(f"DELETE FROM {table} WHERE {col} < ?{extra}", (cutoff,))  # noqa: S608
    return out
