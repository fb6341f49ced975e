"""End-to-end delivery (contract 1.2): a broker WITHOUT persistence killed and restarted mid-stream
loses nothing and doubles nothing, because the agent keeps each window until the aggregator acks it.
Old agent <-> new aggregator and new agent <-> old (never acking) aggregator interoperate.
Real Mosquitto, real agent and aggregator processes."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import paho.mqtt.client as mqtt
import pytest

from cloud_aggregator.config.store import StoreConfig
from cloud_aggregator.store import open_store
from tests._broker import start_mosquitto
from tests._procs import wait_for, write_yaml

pytestmark = pytest.mark.slow
DEVICE = "dev-e"
N = 50  # windows of 60 s from an hour ago: all in the past


def agent_cfg(tmp, port, **outbox):
    return write_yaml(tmp / "agent.yaml", {
        "device": {"id": DEVICE, "site": "s1", "room": "r1"},
        "mqtt": {"host": "127.0.0.1", "port": port, "reconnect_min_s": 0.3, "reconnect_max_s": 1},
        "window_s": 60, "outbox": {"path": str(tmp / "outbox.db"), "confirm_timeout_s": 2, **outbox},
    })


def aggregator(tmp, port, db, idx=0, acks=True, group=None, store=None):
    m = {"port": port, "client_id": f"agg-{idx}", **({"shared_group": group} if group else {})}
    cfg = write_yaml(tmp / f"agg-{idx}.yaml", {"mqtt": m, "store": store or {"path": str(db)},
                                                "ingest": {"end_to_end_acks": acks, "unregistered_devices": "accept"}})
    log = (tmp / f"agg-{idx}.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "cloud_aggregator.ingest", "--config", str(cfg)],
                            stdout=log, stderr=log)


def driver(cfg, first, count, interval, log, flush_s=120):
    return subprocess.Popen([sys.executable, "-m", "tests._publish_driver", str(cfg), str(first), str(count),
                             str(interval), str(flush_s)], stdout=subprocess.PIPE, stderr=log.open("ab"), text=True)


def stored(db) -> list[int]:
    s = open_store(StoreConfig(path=db) if not isinstance(db, str) else StoreConfig(backend="postgres", dsn=db))
    try:
        return [r["msg_id"] for r in s.db.query("SELECT msg_id FROM aggregates WHERE device = ?", (DEVICE,))]
    finally:
        s.close()


def outbox_mode(tmp) -> int | None:
    with sqlite3.connect(tmp / "outbox.db") as c:
        row = c.execute("SELECT value FROM outbox_meta WHERE key = 'acks_seen'").fetchone()
    return row[0] if row else None


def committed_ids(out: str) -> list[int]:
    return [int(line.split()[1]) for line in out.splitlines() if line.startswith("committed")]


def test_broker_without_persistence_restarted_three_times_every_window_once(tmp_path):
    broker = start_mosquitto(tmp_path / "b", persistence=False)
    db = tmp_path / "agg.db"
    agg = aggregator(tmp_path, broker.port, db)
    try:
        # the aggregator starts first (as deployed); the agent is new and assumes acks until shown otherwise
        assert wait_for(lambda: "ingest connected" in (tmp_path / "agg-0.log").read_text(), 30)
        p = driver(agent_cfg(tmp_path, broker.port), 0, N, 0.3, tmp_path / "driver.log")
        assert wait_for(lambda: len(stored(db)) >= 5, 60), "nothing stored before the first outage"
        assert wait_for(lambda: outbox_mode(tmp_path) == 1, 20), "the agent never saw an end-to-end ack"
        assert len(stored(db)) < N - 30, "the stream ended before the outages"
        for _ in range(3):  # mid-stream: windows keep being committed to the outbox during each outage
            before = len(stored(db))
            broker.kill()
            time.sleep(2.0)
            broker.start()
            assert wait_for(lambda b=before: len(stored(db)) > b, 60), "ingest did not resume after the restart"
        out, _ = p.communicate(timeout=240)
        assert p.returncode == 0 and "drained" in out, out[-500:]
        committed = committed_ids(out)
        assert len(committed) == N
        ids = stored(db)
        assert sorted(ids) == sorted(committed), (len(ids), len(committed), sorted(set(committed) - set(ids))[:5])
    finally:
        agg.terminate()
        agg.wait(15)
        broker.stop()
    log = (tmp_path / "agg-0.log").read_text()
    final = json.loads(log.split("ingest final ", 1)[1].splitlines()[0])
    assert final["acks_published"] > 0


def test_two_workers_postgres_worker_killed_in_each_outage(tmp_path):
    """HA ingest: two workers on one $share group and one PostgreSQL; the broker (no persistence) restarted
    3 times and one worker SIGKILLed during each outage: every window stored exactly once."""
    import signal
    import uuid

    import psycopg

    from tests._store_helpers import PG_ADMIN, pg_available

    if not pg_available():
        pytest.skip("PostgreSQL is not reachable")
    name = f"classpulse_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    dsn = f"postgresql://postgres@127.0.0.1:5432/{name}"
    store = {"backend": "postgres", "dsn": dsn}
    broker = start_mosquitto(tmp_path / "b", persistence=False)
    workers = [aggregator(tmp_path, broker.port, None, i, group="cp", store=store) for i in range(2)]
    try:
        assert wait_for(lambda: all("ingest connected" in (tmp_path / f"agg-{i}.log").read_text()
                                    for i in range(2)), 60)
        p = driver(agent_cfg(tmp_path, broker.port), 0, N, 0.3, tmp_path / "driver.log")
        assert wait_for(lambda: len(stored(dsn)) >= 5, 60)
        for k in range(3):
            before = len(stored(dsn))
            broker.kill()
            victim = k % 2
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait(10)
            time.sleep(1.0)
            broker.start()
            workers[victim] = aggregator(tmp_path, broker.port, None, victim, group="cp", store=store)
            assert wait_for(lambda b=before: len(stored(dsn)) > b, 60), "ingest did not resume"
        out, _ = p.communicate(timeout=240)
        assert p.returncode == 0 and "drained" in out, out[-500:]
        committed = committed_ids(out)
        ids = stored(dsn)
        assert len(committed) == N and sorted(ids) == sorted(committed), (len(ids), len(set(ids)))
    finally:
        for w in workers:
            w.terminate()
            w.wait(15)
        broker.stop()
        with psycopg.connect(PG_ADMIN, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_postgres_down_mid_stream_loses_nothing(tmp_path):
    """The database goes away for a while (a proxy is cut, the shared server stays up) while windows
    keep coming: ingest holds the batch unacknowledged, reconnects, and stores every window once."""
    import uuid

    import psycopg

    from tests._broker import free_port
    from tests._store_helpers import PG_ADMIN, pg_available
    from tests._tcp_proxy import TcpProxy

    if not pg_available():
        pytest.skip("PostgreSQL is not reachable")
    name = f"classpulse_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    proxy = TcpProxy(("127.0.0.1", 5432), free_port()).start()
    via_proxy = f"postgresql://postgres@127.0.0.1:{proxy.port}/{name}"
    direct = f"postgresql://postgres@127.0.0.1:5432/{name}"
    broker = start_mosquitto(tmp_path / "b")
    w = aggregator(tmp_path, broker.port, None, 0, store={"backend": "postgres", "dsn": via_proxy})
    try:
        assert wait_for(lambda: "ingest connected" in (tmp_path / "agg-0.log").read_text(), 60)
        p = driver(agent_cfg(tmp_path, broker.port), 0, 30, 0.3, tmp_path / "driver.log")
        assert wait_for(lambda: len(stored(direct)) >= 5, 60)
        proxy.stop()
        time.sleep(6.0)  # windows arrive and fail to store meanwhile
        down_at = len(stored(direct))
        proxy.start()
        out, _ = p.communicate(timeout=240)
        assert p.returncode == 0 and "drained" in out, out[-500:]
        ids = stored(direct)
        assert down_at < 30 and sorted(ids) == sorted(committed_ids(out)), (down_at, len(ids))
        assert "store failed" in (tmp_path / "agg-0.log").read_text()
    finally:
        w.terminate()
        w.wait(15)
        proxy.stop()
        broker.stop()
        with psycopg.connect(PG_ADMIN, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _old_agent_publish(port: int, n: int, base: datetime) -> None:
    """An agent from before 1.2: contract 1.0 payloads, QoS 1, never subscribes to acks; windows from ``base``."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="old-agent")
    c.connect("127.0.0.1", port)
    c.loop_start()
    for i in range(n):
        ws = base + timedelta(minutes=i)
        body = {"schema": "classpulse.agg", "version": "1.0", "msg_id": int(ws.timestamp()), "site": "s1",
                "room": "r1", "device": DEVICE, "window_start": ws.isoformat(),
                "window_end": (ws + timedelta(minutes=1)).isoformat(), "policy": "no-emotion", "k_anonymity": 5,
                "n_faces": 12}
        c.publish(f"classpulse/v1/s1/r1/{DEVICE}/agg", json.dumps(body), qos=1).wait_for_publish(10)
    c.disconnect()
    c.loop_stop()


def test_old_agent_with_new_aggregator(tmp_path):
    broker = start_mosquitto(tmp_path / "b")
    db = tmp_path / "agg.db"
    agg = aggregator(tmp_path, broker.port, db)
    # one base for every probe: a probe repeated while the aggregator subscribes is the same window 0 again
    base = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
    try:
        assert wait_for(lambda: (_old_agent_publish(broker.port, 1, base), len(stored(db)) >= 1)[1], 30)
        _old_agent_publish(broker.port, 10, base)
        assert wait_for(lambda: len(stored(db)) == 10, 30), stored(db)  # the probe was window 0 again: a duplicate
    finally:
        agg.terminate()
        agg.wait(15)
        broker.stop()


def test_new_agent_with_aggregator_that_never_acks(tmp_path):
    """No ack comes: after ack_fallback_s the agent falls back to PUBACKs, drains, and stays there."""
    broker = start_mosquitto(tmp_path / "b")
    db = tmp_path / "agg.db"
    agg = aggregator(tmp_path, broker.port, db, acks=False)
    try:
        assert wait_for(lambda: "ingest connected" in (tmp_path / "agg-0.log").read_text(), 30)
        cfg = agent_cfg(tmp_path, broker.port, ack_fallback_s=3)
        out, _ = driver(cfg, 0, 10, 0.05, tmp_path / "d1.log", flush_s=60).communicate(timeout=90)
        assert "drained" in out, out
        assert outbox_mode(tmp_path) == 0
        assert "falling back to broker PUBACKs" in (tmp_path / "d1.log").read_text()
        t0 = time.monotonic()  # remembered: the next run forgets at PUBACK from the start
        out, _ = driver(cfg, 10, 10, 0.05, tmp_path / "d2.log", flush_s=60).communicate(timeout=90)
        assert "drained" in out and "falling back" not in (tmp_path / "d2.log").read_text()
        assert wait_for(lambda: len(stored(db)) == 20, 30)
        assert time.monotonic() - t0 < 60
    finally:
        agg.terminate()
        agg.wait(15)
        broker.stop()
