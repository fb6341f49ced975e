"""Reads of the anonymous class-level ``aggregates`` (windows tagged with their section) for the warnings.

Only section-level windows: class warnings compare a section with its own baseline, and the risk model
uses a student's sections' engagement as context, never as a measurement of the student.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import db

if TYPE_CHECKING:
    from .base import Store


def section_windows(store: Store, since: str) -> list[dict[str, Any]]:
    """Section windows starting on or after ``since``: section_id, window_start, window_end, n_faces, hand_raises
    and attention_share."""
    return db.query(store, "SELECT section_id, window_start, window_end, n_faces, hand_raises, attention_share "
                           "FROM aggregates WHERE section_id IS NOT NULL AND window_start >= ?", (since,))


def section_tone_windows(store: Store, since: str) -> list[dict[str, Any]]:
    """Section windows under policy ``full`` (the only ones that carry tone) starting on or after ``since``:
    section_id, window_start and the JSON payload."""
    return db.query(store, "SELECT section_id, window_start, payload FROM aggregates WHERE section_id IS NOT NULL "
                           "AND window_start >= ? AND policy = ?", (since, "full"))


def engagement_of_students_sections(store: Store, students: Sequence[str], lo: str, hi: str) -> dict[str, float]:
    """Mean engagement of the windows in [lo, hi) of each student's sections (students without any are absent)."""
    rows = db.query(store, "SELECT e.user_pseudonym AS p, AVG(a.engagement) AS m FROM aggregates a JOIN enrollments e "  # noqa: S608
                           "ON e.section_sourced_id = a.section_id WHERE e.role = ? AND a.engagement IS NOT NULL AND "
                           f"a.window_start >= ? AND a.window_start < ? AND e.user_pseudonym IN {db.in_list(students)} "
                           "GROUP BY e.user_pseudonym", ["student", lo, hi, *students])
    return {r["p"]: float(r["m"]) for r in rows if r["m"] is not None}
