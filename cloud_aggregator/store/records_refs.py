"""What the records importers check each row against: the ids already imported and the key's fingerprint.

An importer validates a row before it is written (its class, its student, its line item must exist), so it
reads these lookups once per file from the same connection it writes with; no names, only ids and pseudonyms.
"""

from __future__ import annotations

from .engine import RecordsDB
from .records_tables import RECORDS_META, Table


def key_fingerprint(db: RecordsDB) -> str | None:
    """Fingerprint of the records key this database was first written with (None: never imported into)."""
    rows = db.query("SELECT value FROM records_meta WHERE key = ?", ("key_fingerprint",))
    return rows[0]["value"] if rows else None


def save_key_fingerprint(db: RecordsDB, fingerprint: str) -> None:
    """Remember the first import's key, so a later import with another key is refused (its pseudonyms differ)."""
    db.upsert_many(RECORDS_META, [{"key": "key_fingerprint", "value": fingerprint}])
    db.commit()


def sourced_ids(db: RecordsDB, table: Table) -> set[str]:
    """Every ``sourced_id`` of a OneRoster table (orgs, academic_sessions, sections) a reference may point at."""
    return {r["sourced_id"] for r in db.query(f"SELECT sourced_id FROM {table.name}")}  # noqa: S608 - schema name


def student_pseudonyms(db: RecordsDB) -> set[str]:
    """Pseudonyms of every imported student (enabled or not): the students an activity row may name."""
    return {r["pseudonym"] for r in db.query("SELECT pseudonym FROM users WHERE role = ?", ("student",))}


def user_roles(db: RecordsDB) -> dict[str, tuple[str, str]]:
    """sourced id → (pseudonym, role) of every user, for enrollments, results and advisor rows."""
    return {r["sourced_id"]: (r["pseudonym"], r["role"])
            for r in db.query("SELECT sourced_id, pseudonym, role FROM users")}


def course_codes(db: RecordsDB) -> dict[str, str | None]:
    """course sourced id → course code, copied onto each class."""
    return {r["sourced_id"]: r["course_code"] for r in db.query("SELECT sourced_id, course_code FROM courses")}


def category_titles(db: RecordsDB) -> dict[str, str]:
    """category sourced id → title, stored on each line item as its category."""
    return {r["sourced_id"]: r["title"] for r in db.query("SELECT sourced_id, title FROM categories")}


def line_item_ranges(db: RecordsDB) -> dict[str, tuple[float | None, float | None]]:
    """line item → (lowest, highest) score, so a result outside its range is refused."""
    return {r["sourced_id"]: (r["result_value_min"], r["result_value_max"])
            for r in db.query("SELECT sourced_id, result_value_min, result_value_max FROM line_items")}


def line_item_dues(db: RecordsDB) -> dict[str, tuple[str | None, str | None]]:
    """line item → (class, due time): a submission row's defaults when it names neither."""
    return {r["sourced_id"]: (r["section_sourced_id"], r["due_at"])
            for r in db.query("SELECT sourced_id, section_sourced_id, due_at FROM line_items")}
