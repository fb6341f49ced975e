"""One row per device and window: a second message for a stored window is a duplicate or a dead letter
with its reason, never a second row; on SQLite and PostgreSQL, and for databases that already hold twins."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from cloud_aggregator.config import AggregatorConfig
from cloud_aggregator.ingest import Incoming, IngestService
from cloud_aggregator.store.migrations import MIGRATIONS
from tests._cloud_helpers import ACCEPT_UNREGISTERED
from tests._store_helpers import store_for

START = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=2)
TOPIC = "classpulse/v1/s1/r1/d1/agg"


def agg(msg_id: int, start: datetime = START, **over) -> bytes:
    d = dict(schema="classpulse.agg", version="1.0", msg_id=msg_id, site="s1", room="r1", device="d1",
             window_start=start.isoformat(), window_end=(start + timedelta(seconds=60)).isoformat(),
             policy="no-emotion", k_anonymity=5, n_faces=20, attention_share=0.6)
    d.update(over)
    return json.dumps(d).encode()


def inc(p: bytes) -> Incoming:
    return Incoming(TOPIC, p, 1, 1, None, time.time())


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_same_window_other_msg_id_is_a_dead_letter_not_a_second_row(tmp_path, backend):
    ws = int(START.timestamp())
    with store_for(backend, tmp_path) as store:
        svc = IngestService(AggregatorConfig(**ACCEPT_UNREGISTERED), store)
        assert [a.msg_id for a in svc.process([inc(agg(ws))])] == [ws]
        # later batch: same window, another msg_id; and the same msg_id again (a redelivery)
        assert svc.process([inc(agg(ws + 7, attention_share=0.1)), inc(agg(ws))]) == []
        # inside one batch: two messages for one new window
        later = START + timedelta(minutes=1)
        new = svc.process([inc(agg(ws + 60, later)), inc(agg(ws + 61, later))])
        assert [a.msg_id for a in new] == [ws + 60]
        # a msg_id reused for another window is refused too
        assert svc.process([inc(agg(ws, START + timedelta(minutes=5)))]) == []
        rows = store.db.query("SELECT msg_id, window_start, attention_share FROM aggregates ORDER BY window_start")
        assert [(r["msg_id"], r["attention_share"]) for r in rows] == [(ws, 0.6), (ws + 60, 0.6)]
        assert svc.stats.stored == 2 and svc.stats.duplicates == 1 and svc.stats.dead_letters == 3
        page = store.dead_letter_page(limit=10)
        assert page["total"] == 3
        reasons = sorted(i["reason"] for i in page["items"])
        assert sum(f"already stored as msg_id {ws}" in r for r in reasons) == 1
        assert sum(f"already stored as msg_id {ws + 60}" in r for r in reasons) == 1
        assert sum("already stored for another window" in r for r in reasons) == 1
        assert all(i["device"] == "d1" and "preview" not in i for i in page["items"])


def test_migration_turns_existing_twins_into_dead_letters(tmp_path):
    with store_for("sqlite", tmp_path) as store:
        db = store.db
        db.execute("DROP INDEX ux_aggregates_device_window")
        db.execute("DELETE FROM schema_migrations WHERE version = 6")
        for mid, stored in ((10, "2026-01-01T00:00:01Z"), (11, "2026-01-01T00:00:02Z")):
            db.execute("INSERT INTO aggregates (device, msg_id, site, room, window_start, window_end, payload, "
                       "received_at, stored_at) VALUES ('d1', ?, 's1', 'r1', 'W', 'E', '{}', ?, ?)",
                       (mid, stored, stored))
        db.commit()
        next(m for m in MIGRATIONS if m.version == 6).apply(db)
        db.commit()
        assert [r["msg_id"] for r in db.query("SELECT msg_id FROM aggregates")] == [10]
        (dl,) = store.dead_letter_page()["items"]
        assert "msg_id 11 removed by migration 6" in dl["reason"]
        with pytest.raises(Exception):  # noqa: B017 - the engine's own integrity error
            db.execute("INSERT INTO aggregates (device, msg_id, window_start) VALUES ('d1', 12, 'W')")


def test_deadletters_cli_lists_shows_and_purges(tmp_path):
    import subprocess
    import sys

    from tests._procs import write_yaml

    ws = int(START.timestamp())
    with store_for("sqlite", tmp_path) as store:
        svc = IngestService(AggregatorConfig(**ACCEPT_UNREGISTERED), store)
        svc.process([inc(agg(ws)), inc(agg(ws + 1)), inc(b"garbage \x00 bytes")])
    cfg = write_yaml(tmp_path / "a.yaml", {"store": {"path": str(tmp_path / "store.db")}})

    def cli(*a: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cloud_aggregator.cli", "deadletters", "--config", str(cfg), *a],
                              capture_output=True, text=True, timeout=60)

    out = cli("list").stdout
    assert out.startswith("2 dead letter(s)") and "already stored as msg_id" in out and "not JSON" in out
    page = json.loads(cli("list", "--json", "--limit", "1").stdout)
    assert page["total"] == 2 and len(page["items"]) == 1 and "preview" not in page["items"][0]
    shown = json.loads(cli("show", page["items"][0]["id"][:10]).stdout)
    assert shown["sha256"] and len(shown["preview"]) <= 256
    assert cli("show", "nope").returncode == 1
    assert json.loads(cli("purge", "--id", shown["id"]).stdout) == {"purged": 1}
    assert json.loads(cli("purge", "--days", "1").stdout) == {"purged": 0}  # the other one is fresh
    assert json.loads(cli("purge", "--all").stdout) == {"purged": 1}
