"""The school admin's audit log: who viewed which student's warnings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from cloud_aggregator.store.audit_log import audit_rows

from .. import auth
from ..audit import audit_events
from ..deps import Web, role
from ..schemas.responses.admin import AuditEvent, AuditRow

router = APIRouter(tags=["admin"])


@router.get("/api/audit", response_model=list[AuditRow] | list[AuditEvent],
            summary="Who viewed which student's warnings")
def audit_log(ctx: Web, student: str | None = Query(None, max_length=128), limit: int = Query(200, ge=1, le=5000),
              grouped: bool = Query(False, description="one entry per action (with its number of students)"),
              user: auth.User = role("admin")) -> list[dict[str, Any]]:
    if student:
        return audit_rows(ctx.store, limit, student)
    if grouped:  # one line per view: a list view writes a row per student it showed, all with one timestamp
        return audit_events(audit_rows(ctx.store, limit * 50), limit)
    return audit_rows(ctx.store, limit)
