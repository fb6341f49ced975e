"""What the OULAD importer derives from rows it already wrote: known outcomes and work never handed in.

OULAD states a student's final result and the work they submitted, but neither an outcome date nor a row
for work not handed in; the importer derives both from these reads after the files are in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .db import chunks, in_list
from .engine import RecordsDB


def final_results(db: RecordsDB) -> list[dict[str, Any]]:
    """Each studentInfo row (``p`` pseudonym, ``s`` section, ``r`` final result, the audit's group columns)
    with the ``end_date`` of the matching registration, which dates a withdrawal."""
    return db.query(
        "SELECT i.student_pseudonym AS p, i.section_sourced_id AS s, i.final_result AS r, i.gender, i.age_band, "
        "i.disability, i.imd_band, e.end_date FROM oulad_student_info i LEFT JOIN enrollments e ON "
        "e.user_pseudonym = i.student_pseudonym AND e.section_sourced_id = i.section_sourced_id")


def coursework_due(db: RecordsDB, sections: Sequence[str]) -> list[dict[str, Any]]:
    """TMA/CMA line items with a cut-off in these sections (``sourced_id``, ``s`` section, ``due_at``)."""
    out: list[dict[str, Any]] = []
    for chunk in chunks(sections):
        out += db.query("SELECT sourced_id, section_sourced_id AS s, due_at FROM line_items WHERE "  # noqa: S608
                        f"section_sourced_id IN {in_list(chunk)} AND category IN ('TMA', 'CMA') "
                        "AND due_at IS NOT NULL", chunk)
    return out


def student_registrations(db: RecordsDB, sections: Sequence[str]) -> list[dict[str, Any]]:
    """Student enrollments in these sections: ``s`` section, ``p`` pseudonym, ``b``/``e`` begin and end dates."""
    out: list[dict[str, Any]] = []
    for chunk in chunks(sections):
        out += db.query("SELECT section_sourced_id AS s, user_pseudonym AS p, begin_date AS b, end_date AS e "  # noqa: S608
                        f"FROM enrollments WHERE role = 'student' AND section_sourced_id IN {in_list(chunk)}", chunk)
    return out


def handed_in(db: RecordsDB, sections: Sequence[str]) -> set[tuple[str, str]]:
    """(line item, pseudonym) of every submission row for a line item of these sections."""
    out: set[tuple[str, str]] = set()
    for chunk in chunks(sections):
        out |= {(r["l"], r["p"]) for r in db.query(
            "SELECT s.line_item_sourced_id AS l, s.student_pseudonym AS p FROM submissions s JOIN line_items l ON "  # noqa: S608
            f"l.sourced_id = s.line_item_sourced_id WHERE l.section_sourced_id IN {in_list(chunk)}", chunk)}
    return out
