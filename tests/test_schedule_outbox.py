"""Timetable gate and the SQLite outbox's bound and ordering."""

from __future__ import annotations

from datetime import datetime, timezone

from edge_agent.config import ScheduleConfig
from edge_agent.outbox import Outbox
from edge_agent.schedule import in_session


def sched(**kw) -> ScheduleConfig:
    base = {"timezone": "Asia/Shanghai",
            "periods": [{"days": ["mon", "tue"], "start": "08:00", "end": "08:45"}]}
    base.update(kw)
    return ScheduleConfig.model_validate(base)


def test_gate_uses_local_time():
    # Monday 2026-11-23 08:10 in Shanghai is 00:10 UTC
    assert in_session(sched(), datetime(2026, 11, 23, 0, 10, tzinfo=timezone.utc))
    assert not in_session(sched(), datetime(2026, 11, 23, 0, 50, tzinfo=timezone.utc))
    assert not in_session(sched(), datetime(2026, 11, 25, 0, 10, tzinfo=timezone.utc))  # Wednesday
    assert not in_session(ScheduleConfig(), datetime(2026, 11, 23, 0, 10, tzinfo=timezone.utc))
    assert in_session(ScheduleConfig(always=True), datetime(2026, 11, 23, 0, 10, tzinfo=timezone.utc))


def test_outbox_order_bound_and_drop_count(tmp_path):
    ob = Outbox(tmp_path / "o.db", max_messages=3)
    for i in range(5):
        ob.put("t", f"m{i}".encode())
    rows = ob.oldest(10)
    assert [r.payload for r in rows] == [b"m2", b"m3", b"m4"]
    assert ob.dropped() == 2 and ob.depth() == 3
    ob.delete(rows[0].id)
    ob.close()
    again = Outbox(tmp_path / "o.db", max_messages=3)  # survives reopen
    assert [r.payload for r in again.oldest(10)] == [b"m3", b"m4"] and again.dropped() == 2
