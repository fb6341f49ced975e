"""DEMO ONLY: the reads and the one clean-up ``web.demo`` needs to seed demo users and lessons.

Which class a demo room mostly hosts, which staff member has the most assigned students, whether the
synthetic history is already in. Never used on a real school's database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import db

if TYPE_CHECKING:
    from .base import Store


def room_classes(store: Store, site: str, room: str) -> list[dict[str, Any]]:
    """``section_sourced_id``, ``teacher_sourced_id`` and ``n`` slots of each class timetabled in this room,
    most slots first, not counting demo lessons (their period starts with ``demo``)."""
    return db.query(store, "SELECT section_sourced_id, teacher_sourced_id, COUNT(*) AS n FROM timetable_slots WHERE "
                           "site = ? AND room = ? AND period NOT LIKE ? GROUP BY section_sourced_id, teacher_sourced_id "
                           "ORDER BY COUNT(*) DESC, section_sourced_id", (site, room, "demo%"))


def room_device_id(store: Store, site: str, room: str) -> str | None:
    """The device id of one of the room's timetable slots as stored ("" when the room has no slot)."""
    rows = db.query(store, "SELECT device_id FROM timetable_slots WHERE site = ? AND room = ? LIMIT 1", (site, room))
    return rows[0]["device_id"] if rows else ""


def drop_all_day_slot(store: Store, site: str, room: str) -> None:
    """Remove the single all-day ``demo`` slot that earlier demo databases had (hourly slots replace it)."""
    db.write(store, "DELETE FROM timetable_slots WHERE site = ? AND room = ? AND period = ?", (site, room, "demo"))


def has_windows(store: Store, device: str, section_id: str) -> bool:
    """Whether ``device`` already stored a window for this section (the synthetic history is written once)."""
    return bool(db.query(store, "SELECT 1 FROM aggregates WHERE device = ? AND section_id = ? LIMIT 1",
                         (device, section_id)))


def staff_by_assignments(store: Store, role: str) -> list[dict[str, Any]]:
    """``s`` (staff sourced id) and ``n`` assigned students of each staff member in this advisor role
    (``advisor`` or ``counselor``), most students first."""
    return db.query(store, "SELECT a.staff_sourced_id AS s, COUNT(*) AS n FROM advisor_assignments a WHERE a.role = ? "
                           "GROUP BY a.staff_sourced_id ORDER BY COUNT(*) DESC, a.staff_sourced_id", (role,))
