"""Ingest under hostile input and crashes: 10,000 fuzzed payloads, aggregator SIGKILLed mid-ingest,
two workers on a shared subscription. Real Mosquitto, real processes."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading

import paho.mqtt.client as mqtt
import pytest

from cloud_aggregator.config import AggregatorConfig
from cloud_aggregator.config.store import StoreConfig
from cloud_aggregator.ingest import Incoming, IngestService
from cloud_aggregator.store import open_store
from tests._broker import start_mosquitto
from tests._cloud_helpers import ACCEPT_UNREGISTERED, payload
from tests._procs import wait_for, write_yaml

TOPIC = "classpulse/v1/s1/r1/d1/agg"
FIELDS = ["msg_id", "n_faces", "window_start", "policy", "k_anonymity", "attention_share", "site", "version", "zones"]
# numbers are strict in the contract, so true and "1.0" are wrong in every number field too
WRONG = ["x", -1, 1e309, None, [], {}, 2**64, "9999-99-99", "\u0000", True, "1.0"]


def fuzzed(rng: random.Random, i: int) -> tuple[str, bytes]:
    """A payload that is invalid by construction (so every one must be dead-lettered)."""
    base = payload(i)
    kind = i % 6
    if kind == 0:
        return TOPIC, base[: rng.randrange(0, len(base) - 1)]  # truncated JSON
    if kind == 1:
        d = json.loads(base)
        f = rng.choice(FIELDS)
        d[f] = rng.choice([w for w in WRONG if w != d.get(f) and not (f in ("zones", "attention_share", "n_faces") and w in (None, []))
                           and not (f == "version" and w == "1.0")])  # null counts and 1.0 are valid since 1.1
        return TOPIC, json.dumps(d, allow_nan=True).encode()
    if kind == 2:
        d = json.loads(base)
        d["".join(rng.choice("abcxyz_") for _ in range(rng.randrange(1, 12))) + "_unknown"] = rng.random()
        return TOPIC, json.dumps(d).encode()
    if kind == 3:
        return TOPIC, rng.randbytes(rng.randrange(0, 300))
    if kind == 4:
        return rng.choice(["classpulse/v1/s1/r1/agg", "classpulse/v1/S1/r1/d1/agg", "classpulse/v2/s1/r1/d1/agg",
                           "classpulse/v1/s1/r1/d1/cmd", "classpulse/v1/s1/r1/d2/agg"]), base
    return TOPIC, base[:-1] + b"," + b'"pad":"' + b"x" * rng.randrange(16_400, 40_000) + b'"}'  # oversized


def test_ten_thousand_fuzzed_payloads_all_dead_lettered_no_crash(tmp_path):
    rng = random.Random(1234)
    store = open_store(StoreConfig(path=tmp_path / "f.db"))
    try:
        svc = IngestService(AggregatorConfig(**ACCEPT_UNREGISTERED), store)
        msgs = [Incoming(t, p, i, 1, None, 0.0) for i, (t, p) in enumerate(fuzzed(rng, i) for i in range(10_000))]
        for k in range(0, len(msgs), 500):
            svc.process(msgs[k:k + 500])  # must not raise
        assert svc.stats.received == 10_000
        assert svc.stats.dead_letters == 10_000 and svc.stats.stored == 0
        assert store.count("aggregates") == 0
        total = store.db.query("SELECT SUM(count) AS n FROM dead_letters")[0]["n"]
        assert total == 10_000  # identical payloads share a row but every one is counted
        reasons = {r["reason"].split(":")[0] for r in store.dead_letters(20_000)}
        assert len(reasons) > 10  # the reasons say what was wrong, not one generic error
        # and after all that, a good message is still stored
        assert [a.msg_id for a in svc.process([Incoming(TOPIC, payload(1), 1, 1, None, 0.0)])] == [1]
    finally:
        store.close()


def _publish(port: int, msgs: list[tuple[str, bytes]]) -> None:
    """QoS 1: returns when the broker has acknowledged every message."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fault-pub")
    c.max_inflight_messages_set(100)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", port)
    c.loop_start()
    infos = [c.publish(t, p, qos=1) for t, p in msgs]
    for i in infos:
        i.wait_for_publish(60)
    c.disconnect()
    c.loop_stop()


def _worker(tmp, port, db, idx=0, group=None):
    m = {"port": port, "client_id": f"agg-{idx}"}
    if group:
        m["shared_group"] = group
    cfg = write_yaml(tmp / f"agg-{idx}.yaml", {"mqtt": m, "store": {"path": str(db)}, **ACCEPT_UNREGISTERED})
    log = (tmp / f"agg-{idx}.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "cloud_aggregator.ingest", "--config", str(cfg)],
                            stdout=log, stderr=log)


def _count(db) -> int:
    s = open_store(StoreConfig(path=db))
    try:
        return s.count("aggregates")
    finally:
        s.close()


def _msgs(n: int, device: str = "d1") -> list[tuple[str, bytes]]:
    out = []
    for i in range(n):
        d = json.loads(payload(i))
        d["device"] = device
        out.append((f"classpulse/v1/s1/r1/{device}/agg", json.dumps(d).encode()))
    return out


@pytest.mark.slow
def test_aggregator_sigkilled_mid_ingest_loses_nothing_acknowledged(tmp_path):
    broker = start_mosquitto(tmp_path / "b", extra="max_queued_messages 0")
    db = tmp_path / "agg.db"
    p = _worker(tmp_path, broker.port, db)
    try:
        probe = _msgs(1, "probe")
        assert wait_for(lambda: (_publish(broker.port, probe), _count(db) >= 1)[1], 30), "aggregator never subscribed"
        n = 6000
        pub = threading.Thread(target=_publish, args=(broker.port, _msgs(n)))
        pub.start()
        assert wait_for(lambda: _count(db) >= 500, 60)
        p.send_signal(signal.SIGKILL)  # mid-ingest: batches in flight, unacked messages in paho's hands
        p.wait(10)
        killed_at = _count(db)
        pub.join(120)
        assert killed_at < n + 1, "the kill came too late to test anything"
        p = _worker(tmp_path, broker.port, db)  # same client id: the broker resends what was never acked
        assert wait_for(lambda: _count(db) == n + 1, 90), (killed_at, _count(db))
        s = open_store(StoreConfig(path=db))
        try:
            ids = [r["msg_id"] for r in s.db.query("SELECT msg_id FROM aggregates WHERE device = 'd1'")]
        finally:
            s.close()
        assert sorted(ids) == list(range(n))  # every acknowledged message, each exactly once
    finally:
        p.terminate()
        p.wait(10)
        broker.stop()


@pytest.mark.slow
def test_two_workers_on_a_shared_subscription_split_the_load(tmp_path):
    broker = start_mosquitto(tmp_path / "b", extra="max_queued_messages 0")
    db = tmp_path / "agg.db"
    ps = [_worker(tmp_path, broker.port, db, i, group="cp") for i in range(2)]
    try:
        assert wait_for(lambda: (_publish(broker.port, _msgs(4, "probe")), _count(db) >= 4)[1], 30)
        _publish(broker.port, _msgs(2000))
        assert wait_for(lambda: _count(db) == 2004, 60), _count(db)
        for p in ps:
            p.send_signal(signal.SIGTERM)
            p.wait(15)
        logs = [(tmp_path / f"agg-{i}.log").read_text() for i in range(2)]
        assert all("$share/cp/classpulse/v1/+/+/+/agg" in x for x in logs)
        stored = [json.loads(x.split("ingest final ", 1)[1].splitlines()[0])["stored"] for x in logs]
        assert sum(stored) == 2004 and min(stored) > 300, stored  # both took a real share, nothing twice
    finally:
        for p in ps:
            if p.poll() is None:
                p.kill()
        broker.stop()
