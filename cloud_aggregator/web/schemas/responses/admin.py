"""The audit log, row by row or grouped per action."""

from __future__ import annotations

from . import Out


class AuditRow(Out):
    id: str
    ts: str
    username: str
    role: str | None
    action: str
    student_pseudonym: str | None
    detail: str | None


class AuditEvent(Out):
    """One action, with the number of students it touched (never their pseudonyms)."""

    ts: str
    username: str
    role: str | None
    action: str
    detail: str
    students: int
