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
    out: dict[str, str | None] = {}
    for chunk in chunks(sorted(set(pseudonyms))):
        out |= {r["pseudonym"]: r["name_enc"] for r in db.query(
            f"SELECT pseudonym, name_enc FROM users WHERE role = ? AND pseudonym IN {in_list(chunk)}",  # noqa: S608
            ["student", *chunk])}
    return out


def staff_name_ciphertexts(db: RecordsDB, sourced_ids: Iterable[str]) -> dict[str, str | None]:
    """sourced id → encrypted name of each of these that is staff (any role but student)."""
    out: dict[str, str | None] = {}
    for chunk in chunks(sorted(set(sourced_ids))):
        out |= {r["sourced_id"]: r["name_enc"] for r in db.query(
            f"SELECT sourced_id, name_enc FROM users WHERE role <> ? AND sourced_id IN {in_list(chunk)}",  # noqa: S608
            ["student", *chunk])}
    return out
