"""The report scopes a user may request."""

from __future__ import annotations

from . import Out


class ReportScope(Out):
    scope: str
    title: str
