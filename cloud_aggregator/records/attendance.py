"""Attendance import (Ed-Fi style section attendance events) → ``attendance`` table.

One row per student, class meeting (date + period) and status. Status accepts our short codes
(present/absent/tardy/excused) and Ed-Fi AttendanceEventCategoryDescriptor values, bare or as URIs
(``uri://ed-fi.org/AttendanceEventCategoryDescriptor#Tardy``). Ed-Fi "Early departure" counts as
``tardy`` (partial attendance), the closest of our four statuses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cloud_aggregator.store.records_tables import ATTENDANCE

from .csvcells import Field, Kind
from .engine import ImportContext, import_folder, known_section, known_student, require

STATUS_MAP = {
    "present": "present", "in attendance": "present", "inattendance": "present", "p": "present",
    "absent": "absent", "unexcused absence": "absent", "unexcusedabsence": "absent", "a": "absent",
    "tardy": "tardy", "late": "tardy", "t": "tardy", "early departure": "tardy", "earlydeparture": "tardy",
    "excused": "excused", "excused absence": "excused", "excusedabsence": "excused", "e": "excused",
}

FIELDS = (
    Field("studentSourcedId", Kind.ID, True, aliases=("StudentUniqueId", "student_id", "studentId")),
    Field("classSourcedId", Kind.ID, True, aliases=("SectionIdentifier", "section_id", "class_id", "sectionId")),
    Field("date", Kind.DATE, True, aliases=("EventDate", "attendance_date")),
    Field("period", Kind.ID, aliases=("ClassPeriodName", "period_name")),
    Field("status", Kind.ID, True, aliases=("AttendanceEventCategoryDescriptor", "attendanceStatus", "category")),
    Field("minutesLate", Kind.INT, aliases=("minutes_late", "TardyMinutes"), min_value=0, max_value=1440),
)


def normalise_status(raw: str) -> str | None:
    s = raw.strip()
    if "#" in s:
        s = s.rsplit("#", 1)[1]
    return STATUS_MAP.get(s.lower())


def _row(v: dict[str, Any], ctx: ImportContext) -> dict[str, Any]:
    status = normalise_status(v["status"])
    require(status is not None, f"unknown status {v['status'][:40]!r} (use present, absent, tardy or excused)",
            "status")
    p = known_student(ctx, v["studentSourcedId"])
    known_section(ctx, v["classSourcedId"])
    minutes = v["minutesLate"]
    require(minutes in (None, 0) or status == "tardy", "minutesLate given but status is not tardy", "minutesLate")
    return {"student_pseudonym": p, "section_sourced_id": v["classSourcedId"], "date": v["date"],
            "period": v["period"] or "", "status": status, "minutes_late": minutes}


def import_attendance(ctx: ImportContext, folder: Path) -> None:
    import_folder(ctx, folder, "attendance", FIELDS, ATTENDANCE, _row)
