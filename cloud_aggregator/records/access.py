"""Read helpers for consumers of the records tables: assignments, and names for those who need them.

Analytics code (cloud_aggregator/warnings) works on pseudonyms; who may be analysed at all (enabled
students who have not opted out) is decided in one place, ``cloud_aggregator.store.analysable``.
Names are decrypted only through :func:`student_names`, which the dashboard calls for the roles that need them
(advisors/counsellors of those students), never for analytics.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .db import RecordsDB
from .keys import RecordsKeys


def advisees(db: Any, staff_sourced_id: str) -> set[str]:
    """Pseudonyms of the students a given advisor/counsellor is assigned to."""
    rdb = RecordsDB.open(db)
    return rdb.column_set("advisor_assignments", "student_pseudonym", "staff_sourced_id=?", (staff_sourced_id,))


def student_names(db: Any, keys: RecordsKeys, pseudonyms: Iterable[str]) -> dict[str, dict[str, str]]:
    """Decrypted names (given, family, english) for the given pseudonyms; unknown ones are absent."""
    rdb = RecordsDB.open(db)
    wanted = set(pseudonyms)
    out: dict[str, dict[str, str]] = {}
    for row in rdb.query("SELECT pseudonym, name_enc FROM users WHERE role=?", ("student",)):
        if row["pseudonym"] in wanted:
            out[row["pseudonym"]] = {k: v for k, v in keys.decrypt(row["name_enc"]).items() if v}
    return out


def staff_names(db: Any, keys: RecordsKeys, sourced_ids: Iterable[str]) -> dict[str, dict[str, str]]:
    """Decrypted names of staff (teachers, advisors, counsellors) by sourced id, for dashboard labels."""
    rdb = RecordsDB.open(db)
    wanted = set(sourced_ids)
    out: dict[str, dict[str, str]] = {}
    for row in rdb.query("SELECT sourced_id, name_enc FROM users WHERE role<>?", ("student",)):
        if row["sourced_id"] in wanted:
            out[row["sourced_id"]] = {k: v for k, v in keys.decrypt(row["name_enc"]).items() if v}
    return out
