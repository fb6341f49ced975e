"""Login, the session and the user."""

from __future__ import annotations

from . import Out


class Me(Out):
    username: str
    role: str
    display_name: str
    language: str


class SessionOut(Out):
    """The logged-in user and the session's CSRF token (send it as X-CSRF-Token)."""

    user: Me
    csrf: str


class LanguageOut(Out):
    language: str

