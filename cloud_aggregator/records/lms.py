"""LMS activity → ``lms_activity`` (daily per student, class and activity type).

Input may already be daily totals or finer (one row per session/event): rows with the same
(student, class, date, activity type) are summed and counted as ``merged`` in the report, so an
event log and its daily roll-up import to the same table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cloud_aggregator.store.records_tables import LMS_ACTIVITY

from .csvcells import Field, Kind
from .engine import ImportContext, import_folder, known_section, known_student, require

FIELDS = (
    Field("studentSourcedId", Kind.ID, True, aliases=("student_id", "studentId", "id_student")),
    Field("classSourcedId", Kind.ID, aliases=("section_id", "class_id")),
    Field("date", Kind.DATE, True, aliases=("day", "activity_date")),
    Field("activityType", Kind.ID, True, aliases=("activity_type", "type", "event_type")),
    Field("events", Kind.INT, True, aliases=("count", "clicks", "sum_click"), min_value=0, max_value=10_000_000),
    Field("minutes", Kind.FLOAT, aliases=("duration_minutes", "time_minutes"), min_value=0, max_value=1440),
)


def _row(v: dict[str, Any], ctx: ImportContext) -> dict[str, Any]:
    p = known_student(ctx, v["studentSourcedId"])
    known_section(ctx, v["classSourcedId"])
    kind = v["activityType"].strip().lower()
    require(len(kind) <= 64, "activityType longer than 64 characters", "activityType")
    return {"student_pseudonym": p, "section_sourced_id": v["classSourcedId"] or "", "date": v["date"],
            "activity_type": kind, "events": v["events"], "minutes": v["minutes"]}


def merge_activity(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Sum two rows of the same key (events always, minutes when either has them)."""
    out = dict(a)
    out["events"] = (a["events"] or 0) + (b["events"] or 0)
    if a.get("minutes") is not None or b.get("minutes") is not None:
        out["minutes"] = round((a.get("minutes") or 0.0) + (b.get("minutes") or 0.0), 3)
    return out


def import_lms(ctx: ImportContext, folder: Path) -> None:
    import_folder(ctx, folder, "lms", FIELDS, LMS_ACTIVITY, _row, merge=merge_activity)
