"""Course sections as the records import stored them: their ids, titles and course codes.

Read by the scopes (an admin sees every section), the live view and the reports (titles instead of ids)
and the department reports (course code prefixes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import db

if TYPE_CHECKING:
    from .base import Store


def section_ids(store: Store) -> list[str]:
    """Every section id, sorted."""
    return sorted(r["sourced_id"] for r in db.query(store, "SELECT sourced_id FROM sections"))


def section_titles(store: Store, ids: Sequence[str]) -> dict[str, str]:
    """Id → title ("" when the roster gave none) of the sections among ``ids`` that exist."""
    out: dict[str, str] = {}
    for chunk in db.chunks(ids):
        for r in db.query(store, f"SELECT sourced_id, title FROM sections WHERE sourced_id IN {db.in_list(chunk)}",  # noqa: S608
                          chunk):
            out[r["sourced_id"]] = r["title"] or ""
    return out


def course_codes(store: Store) -> dict[str, str]:
    """Section id → its course code ("" when none), e.g. ``MATH-10`` (departments are its prefix)."""
    return {r["sourced_id"]: r["course_code"] or ""
            for r in db.query(store, "SELECT sourced_id, course_code FROM sections")}
