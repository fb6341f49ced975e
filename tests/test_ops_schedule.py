from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.config import ScheduleConfig
from edge_agent.schedule import in_session

S = ScheduleConfig.model_validate({"timezone": "Europe/Berlin", "periods": [
    {"days": ["mon", "wed"], "start": "08:00", "end": "09:30"}]})


def test_inside_outside_and_timezone():
    # 2026-01-05 is a Monday; Berlin is UTC+1 in January
    assert in_session(S, datetime(2026, 1, 5, 7, 0, tzinfo=timezone.utc))        # 08:00 local, start inclusive
    assert not in_session(S, datetime(2026, 1, 5, 8, 30, tzinfo=timezone.utc))    # 09:30 local, end exclusive
    assert not in_session(S, datetime(2026, 1, 5, 6, 59, tzinfo=timezone.utc))
    assert not in_session(S, datetime(2026, 1, 6, 7, 30, tzinfo=timezone.utc))    # Tuesday
    assert in_session(S, datetime(2026, 7, 1, 6, 30, tzinfo=timezone.utc))        # summer time UTC+2, Wednesday


def test_naive_datetime_refused_and_empty_schedule_never_senses():
    with pytest.raises(ValueError):
        in_session(S, datetime(2026, 1, 5, 8, 0))
    assert not in_session(ScheduleConfig(), datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc))
    assert in_session(ScheduleConfig(always=True), datetime(2026, 1, 5, 3, 0, tzinfo=timezone.utc))


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)), st.integers(-720, 840))
def test_never_senses_on_unlisted_days(dt, off):
    aware = dt.replace(tzinfo=timezone(timedelta(minutes=off)))
    local = aware.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    if local.weekday() not in (0, 2):
        assert not in_session(S, aware)
