"""The Store interface, one suite run against SQLite and a throwaway PostgreSQL database."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from classpulse_contract import Health, Status
from cloud_aggregator.retention import run_retention, week_floor
from cloud_aggregator.store import DeadLetter, TokenError
from cloud_aggregator.store.migrations import LATEST, STORE_TABLES, applied_versions
from cloud_aggregator.timetable import SessionResolver, find_session
from tests._cloud_helpers import make_agg
from tests._store_helpers import store_for

NOW = "2026-01-01T00:00:00.000000Z"


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    with store_for(request.param, tmp_path) as s:
        yield s


def test_migrations_applied_once_and_recorded(store, tmp_path):
    assert applied_versions(store.db) == list(range(1, LATEST + 1))
    for t in STORE_TABLES:
        assert store.db.table_exists(t), t
    from cloud_aggregator.store.base import Store

    again = Store(store.db)  # re-opening the same database applies nothing
    assert again.migrated_now == []


def test_each_device_msg_id_stored_once(store):
    a1, a2 = make_agg(1), make_agg(2)
    new = store.write_batch([(a1, NOW), (a1, NOW), (a2, NOW)])
    assert [a.msg_id for a in new] == [1, 2]
    assert store.write_batch([(a1, NOW), (make_agg(1, device="d2"), NOW)]) == [make_agg(1, device="d2")]
    assert store.count("aggregates") == 3
    assert store.insert_aggregates([(a2, NOW)]) == []


def test_batch_is_one_transaction(store):
    class Boom(Exception):
        pass

    bad = make_agg(5)
    object.__setattr__(bad, "window_start", None)  # makes the row builder fail after dead letters were written
    with pytest.raises(Exception):  # noqa: B017 - any failure must roll the whole batch back
        store.write_batch([(bad, NOW)], dead=[DeadLetter("t", b"x", "r", NOW)])
    assert store.count("dead_letters") == 0 and store.count("aggregates") == 0


def test_dead_letters_keep_reason_and_short_preview_and_count_repeats(store):
    store.dead_letter("classpulse/v1/s/r/d/agg", b"\x00garbage" * 100_000, "not JSON", NOW)
    store.dead_letter("classpulse/v1/s/r/d/agg", b"\x00garbage" * 100_000, "not JSON", NOW)
    store.dead_letter("other/topic", b"{}", "topic", NOW)
    rows = {r["topic"]: r for r in store.dead_letters()}
    big = rows["classpulse/v1/s/r/d/agg"]
    assert big["count"] == 2 and big["size"] == 800_000 and len(big["preview"]) <= 256 and big["reason"] == "not JSON"
    assert store.count("dead_letters") == 2


def test_sites_rooms_devices_status_and_health(store):
    store.upsert_site("s1", "Demo school", "Asia/Shanghai")
    store.upsert_room("s1", "r1", "Room 101")
    store.upsert_device("d1", "s1", "r1")
    assert store.site_timezone("s1") == "Asia/Shanghai" and store.site_timezone("nope") == "UTC"
    assert [r["room"] for r in store.rooms("s1")] == ["r1"]
    ts = datetime(2026, 1, 1, tzinfo=timezone.utc)
    store.upsert_status("s1", "r1", Status(device="d1", state="online", ts=ts))
    store.insert_health("s1", "r1", Health(device="d1", ts=ts, uptime_s=5, cpu_temp_c=50))
    store.insert_health("s1", "r1", Health(device="d1", ts=ts + timedelta(minutes=1), uptime_s=65))
    (dev,) = store.devices()
    assert dev["state"] == "online" and dev["health"]["uptime_s"] == 65
    assert [h["uptime_s"] for h in store.health_history("d1", "2000")] == [5, 65]
    assert store.delete_device("d1") and store.devices() == []


def test_enrolment_tokens_are_one_time_and_expire(store):
    tok = store.issue_token("s1", "r1", "dev-new", ttl=timedelta(hours=1))
    assert tok not in str(store.db.query("SELECT * FROM enrol_tokens"))  # only the hash is kept
    e = store.redeem_token(tok)
    assert (e.device, e.site, e.room) == ("dev-new", "s1", "r1")
    assert [d["device"] for d in store.devices()] == ["dev-new"]
    with pytest.raises(TokenError):
        store.redeem_token(tok)
    with pytest.raises(TokenError):
        store.redeem_token("not-a-token")
    old = store.issue_token("s1", "r1", "dev-2", ttl=timedelta(seconds=-1))
    with pytest.raises(TokenError):
        store.redeem_token(old)


def test_dashboard_queries(store):
    store.write_batch([(make_agg(i, room=room, device=f"d-{room}"), NOW) for i in range(1, 4) for room in ("r1", "r2")]
                      + [(make_agg(9, device="d9", room="r1", site="s2"), NOW)])
    latest = store.latest_per_room()
    assert sorted((x["site"], x["room"], x["msg_id"]) for x in latest) == [("s1", "r1", 3), ("s1", "r2", 3),
                                                                           ("s2", "r1", 9)]
    rows = store.room_aggregates("r1", "0000", site="s1")
    assert [r["msg_id"] for r in rows] == [1, 2, 3]


def _slot(**over):
    d = dict(site="s1", room="r1", device_id="d1", weekday=1, period="p1", start_time="08:00", end_time="08:45",
             section_sourced_id="sec-math", course_code="MATH", teacher_sourced_id="t1", term_sourced_id="")
    d.update(over)
    return d


def test_timetable_maps_windows_to_section_sessions_in_local_time():
    slots = [_slot(), _slot(weekday=1, period="p2", start_time="09:00", end_time="09:45", section_sourced_id="sec-bio")]
    mon = datetime(2026, 3, 2, 0, 10, tzinfo=timezone.utc)  # Monday 08:10 in Shanghai (UTC+8)
    s = find_session(slots, "Asia/Shanghai", {}, "s1", "r1", mon, mon + timedelta(minutes=1))
    assert s is not None and s.session_id == "sec-math:2026-03-02:p1" and s.teacher_id == "t1"
    assert find_session(slots, "UTC", {}, "s1", "r1", mon, mon + timedelta(minutes=1)) is None  # 00:10 UTC: no class
    assert find_session(slots, "Asia/Shanghai", {}, "s1", "r2", mon, mon + timedelta(minutes=1)) is None
    # outside the slot's term
    s = find_session([_slot(term_sourced_id="t-2025")], "Asia/Shanghai", {"t-2025": ("2025-09-01", "2026-01-31")},
                     "s1", "r1", mon, mon + timedelta(minutes=1))
    assert s is None


def test_sessions_rollups_and_retention(store):
    store.upsert_site("s1", "", "UTC")
    store.upsert_timetable_slot(_slot(weekday=1, start_time="08:00", end_time="09:00"))
    resolver = SessionResolver(store)
    now = datetime.now(timezone.utc)
    old_monday = week_floor(now - timedelta(days=60)) + timedelta(hours=8)
    new_monday = week_floor(now) + timedelta(hours=8)
    aggs = [make_agg(i, start=day + timedelta(minutes=i)) for day in (old_monday, new_monday) for i in range(3)]
    aggs = [make_agg(10 * k + a.msg_id, start=a.window_start) for k, a in enumerate(aggs)]
    store.write_batch([(a, NOW) for a in aggs], sessions=[resolver(a) for a in aggs])
    sid_old = f"sec-math:{old_monday.date()}:p1"
    assert len(store.session_aggregates(sid_old)) == 3
    rep = run_retention(store, retention_days=30, now=now)
    assert rep.deleted == 3 and store.count("aggregates") == 3
    sessions = store.section_sessions("sec-math")
    assert [s["session_id"] for s in sessions] == [sid_old, f"sec-math:{new_monday.date()}:p1"]
    assert sessions[0]["n_windows"] == 3 and sessions[0]["attention_mean"] == pytest.approx(0.6)
    weeks = store.week_summaries("s1")
    assert len(weeks) == 2 and all(w["n_windows"] == 3 and w["n_sessions"] == 1 for w in weeks)
    # a second run deletes nothing more and keeps the old week's summary
    rep2 = run_retention(store, retention_days=30, now=now)
    assert rep2.deleted == 0 and len(store.week_summaries("s1")) == 2
