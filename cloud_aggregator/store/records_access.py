"""Reads of the records for the people who need them: a counsellor's advisees and the encrypted names.

Names leave the database only as ciphertext; ``records.access`` decrypts them for the roles that may see
them. Analytics never call these: they work on pseudonyms picked through ``store.analysable``.
"""

from __future__ import annotations

from collections.abc import Iterable

from .db import chunks, in_list
from .engine import RecordsDB


def advisees(db: RecordsDB, staff_sourced_id: str) -> set[str]:
    """Pseudonyms of the students an advisor/counsellor is assigned to (opted-out students included)."""
    return {r["student_pseudonym"] for r in db.query(
        "SELECT student_pseudonym FROM advisor_assignments WHERE staff_sourced_id = ?", (staff_sourced_id,))}


def student_name_ciphertexts(db: RecordsDB, pseudonyms: Iterable[str]) -> dict[str, str | None]:
    """pseudonym → encrypted name of each of these that is a student; unknown pseudonyms are absent."""
    return _name_ciphertexts(db, "pseudonym", "role = 'student'", pseudonyms)


def staff_name_ciphertexts(db: RecordsDB, sourced_ids: Iterable[str]) -> dict[str, str | None]:
    """sourced id → encrypted name of each of these that is staff (any role but student)."""
    return _name_ciphertexts(db, "sourced_id", "role <> 'student'", sourced_ids)


def _name_ciphertexts(db: RecordsDB, key: str, role: str, wanted: Iterable[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for chunk in chunks(sorted(set(wanted))):
        rows = db.query(f"SELECT {key}, name_enc FROM users WHERE {role} AND {key} IN {in_list(chunk)}", chunk)  # noqa: S608
        out |= {r[key]: r["name_enc"] for r in rows}
    return out
