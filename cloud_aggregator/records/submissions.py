"""Assignment submissions (due and submit times) → ``submissions`` table.

The status is derived, not trusted: missing (no submit time), late (after due), on_time, or excused
(only when the file says so). When the line item is known from OneRoster its class and due time are
the defaults; an LMS export may also name assignments OneRoster does not have, then classSourcedId
and dueDateTime are required. Naive date-times are read as UTC: export with an offset.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any

from cloud_aggregator.store import records_refs as refs
from cloud_aggregator.store.records_tables import SUBMISSIONS

from .csvcells import Field, Kind, RowError
from .engine import ImportContext, cached, import_folder, known_section, known_student, require

FIELDS = (
    Field("lineItemSourcedId", Kind.ID, True, aliases=("assignment_id", "assignmentId", "lineItemId")),
    Field("studentSourcedId", Kind.ID, True, aliases=("student_id", "studentId")),
    Field("classSourcedId", Kind.ID, aliases=("section_id", "class_id")),
    Field("dueDateTime", Kind.DATETIME, aliases=("due_at", "dueDate", "due")),
    Field("submittedDateTime", Kind.DATETIME, aliases=("submitted_at", "submitDate", "submitted")),
    Field("status", Kind.ENUM, choices={"excused": "excused", "exempt": "excused", "submitted": "submitted",
                                        "missing": "missing", "late": "late", "on_time": "on_time",
                                        "ontime": "on_time"}),
)


def _ts(s: str) -> datetime:
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ")


def derive_status(due_at: str, submitted_at: str | None, excused: bool) -> tuple[str, int | None]:
    """(status, minutes late) from UTC ISO strings; pure so features can reuse it."""
    if excused:
        return "excused", None
    if submitted_at is None:
        return "missing", None
    delta = (_ts(submitted_at) - _ts(due_at)).total_seconds()
    if delta > 0:
        return "late", max(1, math.ceil(delta / 60))
    return "on_time", 0


def _row(v: dict[str, Any], ctx: ImportContext) -> dict[str, Any]:
    items = cached(ctx, "line_item_due", lambda: refs.line_item_dues(ctx.db))
    p = known_student(ctx, v["studentSourcedId"])
    item = items.get(v["lineItemSourcedId"])
    section = v["classSourcedId"] or (item[0] if item else None)
    due = v["dueDateTime"] or (item[1] if item else None)
    if section is None:  # raised, not require()d: the type checker then knows both are set
        raise RowError("unknown line item and no classSourcedId given", "classSourcedId")
    if due is None:
        raise RowError("unknown line item and no dueDateTime given", "dueDateTime")
    known_section(ctx, section)
    claimed = v["status"]
    status, late = derive_status(due, v["submittedDateTime"], claimed == "excused")
    if claimed == "missing":
        require(v["submittedDateTime"] is None, "status says missing but a submit time is given", "status")
    return {"line_item_sourced_id": v["lineItemSourcedId"], "student_pseudonym": p, "section_sourced_id": section,
            "due_at": due, "submitted_at": v["submittedDateTime"], "status": status, "minutes_late": late}


def import_submissions(ctx: ImportContext, folder: Path) -> None:
    import_folder(ctx, folder, "submissions", FIELDS, SUBMISSIONS, _row)
