"""Timetable and device map: which class is in which room (and so in front of which device) when.

``timetable.csv`` → ``timetable_slots`` (validated like every import; a room or a teacher booked twice
in the same slot is rejected). ``devices.yaml`` (sites → rooms → device ids) is read with
:func:`load_devices`, a pydantic model with ``extra="forbid"``, so a typo is a clear config error.
Both are written by the demo school and are what a school fills in for its own rooms.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PField

from classpulse_contract.config_io import load_config
from cloud_aggregator.store.records_tables import TIMETABLE_SLOTS

from .csvcells import Field, Kind, RowError
from .engine import ImportContext, import_folder, known_section, require

_SLUG = r"^[a-z0-9][a-z0-9_-]{0,63}$"  # safe as an MQTT topic level


class Room(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = ""
    device_id: str = PField(pattern=_SLUG)
    kind: str = "classroom"


class Site(BaseModel):
    model_config = ConfigDict(extra="forbid")
    org_sourced_id: str | None = None
    rooms: dict[str, Room]


class Devices(BaseModel):
    """``devices.yaml``: topics are classpulse/v1/<site>/<room>/<device_id>/…"""

    model_config = ConfigDict(extra="forbid")
    timezone: str = "UTC"
    sites: dict[str, Site]

    def device_index(self) -> dict[str, tuple[str, str]]:
        """device_id → (site, room); device ids must be unique across sites."""
        out: dict[str, tuple[str, str]] = {}
        for site, s in self.sites.items():
            for room, r in s.rooms.items():
                if r.device_id in out:
                    raise ValueError(f"device {r.device_id} is in {out[r.device_id]} and in {(site, room)}")
                out[r.device_id] = (site, room)
        return out


def load_devices(path: str | Path) -> Devices:
    """Validate ``devices.yaml`` (raises classpulse_contract.config_io.ConfigError with key paths)."""
    devices = load_config(Devices, path, env_prefix="CLASSPULSE_DEVICES")
    devices.device_index()
    return devices


FIELDS = (
    Field("site", Kind.ID, True), Field("room", Kind.ID, True), Field("device_id", Kind.ID),
    Field("weekday", Kind.INT, True, min_value=1, max_value=7),
    Field("period", Kind.ID, True), Field("start", Kind.ID, True), Field("end", Kind.ID, True),
    Field("classSourcedId", Kind.ID, True, aliases=("class_id", "section_id")),
    Field("courseCode", Kind.ID), Field("teacherSourcedId", Kind.ID), Field("termSourcedId", Kind.ID),
)


def _hhmm(text: str, name: str) -> str:
    parts = text.split(":")
    if len(parts) != 2 or not all(p.isdigit() and len(p) == 2 for p in parts):
        raise RowError(f"not a time HH:MM: {text[:20]!r}", name)
    h, m = int(parts[0]), int(parts[1])
    require(h < 24 and m < 60, f"not a time of day: {text!r}", name)
    return text


def _row(v: dict[str, Any], ctx: ImportContext) -> dict[str, Any]:
    start, end = _hhmm(v["start"], "start"), _hhmm(v["end"], "end")
    require(start < end, "end is not after start", "end")
    known_section(ctx, v["classSourcedId"])
    teachers = ctx.cache.setdefault("tt_teacher_slots", {})
    if v["teacherSourcedId"]:
        tkey = (v["teacherSourcedId"], v["weekday"], v["period"], v["termSourcedId"] or "")
        other = teachers.get(tkey)
        require(other is None or other == (v["site"], v["room"]),
                f"teacher {v['teacherSourcedId']} is already in {other} at this time", "teacherSourcedId")
        teachers[tkey] = (v["site"], v["room"])
    return {"site": v["site"], "room": v["room"], "device_id": v["device_id"], "weekday": v["weekday"],
            "period": v["period"], "start_time": start, "end_time": end, "section_sourced_id": v["classSourcedId"],
            "course_code": v["courseCode"], "teacher_sourced_id": v["teacherSourcedId"],
            "term_sourced_id": v["termSourcedId"] or ""}


def import_timetable(ctx: ImportContext, folder: Path) -> None:
    import_folder(ctx, folder, "timetable", FIELDS, TIMETABLE_SLOTS, _row)
