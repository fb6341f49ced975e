"""Known outcomes → ``student_outcomes``: the label a school's risk model learns from.

One row per student and term: ``outcome`` pass / fail / withdrawn (OULAD's ``final_result`` words are
accepted: Distinction → pass), ``date`` when it became known (term end, or the withdrawal date).
Optional group columns (gender, ageBand, disability, deprivation) feed the fairness audit only; the
model never sees them. Training uses only what the records knew *before* ``date``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cloud_aggregator.store.records_tables import STUDENT_OUTCOMES

from .csvcells import Field, Kind
from .engine import ImportContext, import_folder, known_student

_OUTCOME = {"pass": "pass", "distinction": "pass", "passed": "pass", "fail": "fail", "failed": "fail",
            "withdrawn": "withdrawn", "withdrew": "withdrawn", "withdrawal": "withdrawn"}
FIELDS = (
    Field("studentSourcedId", Kind.ID, True, aliases=("student_id", "studentId", "id_student")),
    Field("termSourcedId", Kind.ID, aliases=("term", "term_id", "code_presentation")),
    Field("outcome", Kind.ENUM, True, aliases=("final_result", "result"), choices=_OUTCOME),
    Field("date", Kind.DATE, True, aliases=("outcome_date", "date_known")),
    Field("gender", Kind.TEXT),
    Field("ageBand", Kind.TEXT, aliases=("age_band",)),
    Field("disability", Kind.TEXT),
    Field("deprivation", Kind.TEXT, aliases=("imd_band",)),
)


def _row(v: dict[str, Any], ctx: ImportContext) -> dict[str, Any]:
    return {"student_pseudonym": known_student(ctx, v["studentSourcedId"]), "term_sourced_id": v["termSourcedId"] or "",
            "outcome": v["outcome"], "outcome_date": v["date"], "gender": v["gender"], "age_band": v["ageBand"],
            "disability": v["disability"], "deprivation": v["deprivation"]}


def import_outcomes(ctx: ImportContext, folder: Path) -> None:
    import_folder(ctx, folder, "outcomes", FIELDS, STUDENT_OUTCOMES, _row)
