"""Who may be analysed or shown: enabled students who have not opted out. The one place this is written.

A student whose ``users`` row says ``opt_out = 1`` (OneRoster ``metadata.classpulse.optOut``) or
``enabled = 0`` (``enabledUser``) gets no warning, no delivery, no place in a list, a count, a report or
the risk model's training and comparison data. Every query that picks students puts :func:`analysable`
(or :func:`excluded`) on its student-id column, so a change to the rule is made here once. A missing
value (NULL) counts as not analysable. Plain SQL, the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from . import db

if TYPE_CHECKING:
    from .base import Store

#: pseudonyms of the students who may be analysed (a sub-query; no parameters)
ANALYSABLE_STUDENTS = "SELECT pseudonym FROM users WHERE role = 'student' AND opt_out = 0 AND enabled = 1"
_COLUMN = re.compile(r"(?:[a-z_][a-z0-9_]{0,62}\.)?[a-z_][a-z0-9_]{0,62}")


def _checked(column: str) -> str:
    """Column names come from code, never from a request: refuse anything but ``name`` or ``alias.name``."""
    if not _COLUMN.fullmatch(column):
        raise ValueError(f"not a plain SQL column: {column!r}")
    return column


def analysable(column: str) -> str:
    """SQL condition: the student pseudonym in ``column`` (e.g. ``"a.student_pseudonym"``) may be analysed."""
    return f"{_checked(column)} IN ({ANALYSABLE_STUDENTS})"


def excluded(column: str) -> str:
    """SQL condition: the pseudonym in ``column`` is not an analysable student (opted out, disabled, unknown)."""
    return f"{_checked(column)} NOT IN ({ANALYSABLE_STUDENTS})"


def analysable_students(store: Store) -> list[str]:
    """Sorted pseudonyms of the enabled students who have not opted out."""
    return sorted(r["pseudonym"] for r in db.query(store, ANALYSABLE_STUDENTS))


def excluded_students(store: Store) -> list[str]:
    """Sorted pseudonyms of the students who have opted out or are disabled."""
    sql = f"SELECT pseudonym FROM users WHERE role = 'student' AND {excluded('pseudonym')}"  # noqa: S608 - checked column
    return sorted(r["pseudonym"] for r in db.query(store, sql))


def is_analysable(store: Store, pseudonym: str) -> bool:
    """Whether this one pseudonym may be analysed (checked again just before a message about them goes out)."""
    sql = f"SELECT 1 FROM users WHERE pseudonym = ? AND {analysable('pseudonym')}"  # noqa: S608 - checked column
    return bool(db.query(store, sql, (pseudonym,)))
