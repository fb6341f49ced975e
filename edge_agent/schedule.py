"""Privacy gate: sensing only inside configured timetable periods (local school time)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from edge_agent.config import ScheduleConfig

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def in_session(schedule: ScheduleConfig, dt: datetime) -> bool:
    """True when ``dt`` (timezone-aware) falls in a period: start inclusive, end exclusive.

    A naive datetime is refused rather than guessed: a wrong guess would sense outside lessons.
    """
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("in_session needs a timezone-aware datetime")
    if schedule.always:
        return True
    local = dt.astimezone(ZoneInfo(schedule.timezone))
    day, t = _DAYS[local.weekday()], local.time().replace(tzinfo=None)
    return any(day in p.days and p.start <= t < p.end for p in schedule.periods)
