"""The risk model's labels: each analysable student's known outcome per term (``student_outcomes``).

Opted-out and disabled students are left out here, through ``analysable``, so they never become training
data. The group columns are returned for the fairness audit only and are never model features.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import db
from .analysable import analysable

if TYPE_CHECKING:
    from .base import Store


def analysable_outcomes(store: Store) -> list[dict[str, Any]]:
    """p (pseudonym), term, outcome, outcome_date and the group columns (gender, age_band, disability,
    deprivation) of the analysable students' outcomes."""
    return db.query(store, "SELECT o.student_pseudonym AS p, o.term_sourced_id AS term, o.outcome, "  # noqa: S608
                           "o.outcome_date, o.gender, o.age_band, o.disability, o.deprivation FROM student_outcomes o "
                           f"WHERE {analysable('o.student_pseudonym')}")
