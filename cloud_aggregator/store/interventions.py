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
from .web_tables import INTERVENTIONS

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


def record_intervention(store: Store, row: dict[str, Any]) -> None:
    """Store a new intervention (its note already encrypted, no outcome yet)."""
    db.insert(store, INTERVENTIONS, [row])


def student_interventions(store: Store, pseudonym: str) -> list[dict[str, Any]]:
    """A student's interventions, newest first (notes encrypted, as stored)."""
    return db.query(store, "SELECT * FROM interventions WHERE student_pseudonym = ? ORDER BY created_at DESC",
                    (pseudonym,))


def student_effects(store: Store, pseudonym: str) -> list[dict[str, Any]]:
    """The measured effect rows of a student's interventions (``comparison`` as JSON text)."""
    return db.query(store, "SELECT * FROM intervention_effects WHERE student_pseudonym = ?", (pseudonym,))


def intervention_student(store: Store, intervention_id: str) -> str | None:
    """The pseudonym an intervention is about, None when there is no such intervention."""
    rows = db.query(store, "SELECT student_pseudonym FROM interventions WHERE id = ?", (intervention_id,))
    return rows[0]["student_pseudonym"] if rows else None


def record_outcome(store: Store, intervention_id: str, outcome: str, note_enc: str | None, at: str) -> None:
    """An intervention's outcome, its encrypted note and when it was recorded."""
    db.write(store, "UPDATE interventions SET outcome = ?, outcome_note_enc = ?, outcome_at = ? WHERE id = ?",
             (outcome, note_enc, at, intervention_id))
