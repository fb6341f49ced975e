"""Interventions the staff recorded (``interventions``) and their measured effect on risk (``intervention_effects``).

An effect row holds the student's risk at the intervention date and 2 and 4 weeks later next to
comparable students without one; the comparison is computed in ``warnings.risk``, read back here for
the dashboard and the next run (which recomputes only what a new model version or new records change).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import db
from .warning_tables import INTERVENTION_EFFECTS

if TYPE_CHECKING:
    from .base import Store


def interventions_with_outcome(store: Store) -> list[dict[str, Any]]:
    """id, student_pseudonym, kind and created_at of every intervention whose outcome was recorded."""
    return db.query(store, "SELECT id, student_pseudonym, kind, created_at FROM interventions WHERE outcome IS NOT NULL")


def students_with_interventions(store: Store) -> set[str]:
    """Pseudonyms of the students who had any intervention (never comparison students)."""
    return {r["student_pseudonym"] for r in db.query(store, "SELECT student_pseudonym FROM interventions")}


def intervention_effects(store: Store) -> list[dict[str, Any]]:
    """Every stored effect row (``comparison`` as JSON text)."""
    return db.query(store, "SELECT * FROM intervention_effects")


def save_effects(store: Store, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or replace effect rows, one per intervention."""
    db.insert(store, INTERVENTION_EFFECTS, rows)
