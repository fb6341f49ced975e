"""Timetable gate: the agent senses only inside configured class periods (pure function)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from edge_agent.config import ScheduleConfig

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def in_session(schedule: ScheduleConfig, when: datetime) -> bool:
    """True when ``when`` (timezone-aware) falls in a period, in the schedule's own time zone."""
    if schedule.always:
        return True
    local = when.astimezone(ZoneInfo(schedule.timezone))
    day = DAYS[local.weekday()]
    t = local.time().replace(tzinfo=None)
    return any(day in p.days and p.start <= t < p.end for p in schedule.periods)
