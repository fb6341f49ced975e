"""Ingest: validation, dedup and dead letters on SQLite and PostgreSQL, fuzzed, and through a real broker."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud_aggregator.config import AggregatorConfig
from cloud_aggregator.ingest import Incoming, IngestService
from tests._broker import start_mosquitto
from tests._cloud_helpers import ACCEPT_UNREGISTERED
from tests._procs import patient, wait_for
from tests._store_helpers import store_for

PERMISSIVE = AggregatorConfig(**ACCEPT_UNREGISTERED)

NOW = datetime.now(timezone.utc).replace(microsecond=0)
TOPIC = "classpulse/v1/s1/r1/d1/agg"


def agg(msg_id=1, **over) -> bytes:
    start = NOW - timedelta(minutes=5) + timedelta(seconds=60 * (msg_id % 3))
    d = dict(schema="classpulse.agg", version="1.0", msg_id=msg_id, site="s1", room="r1", device="d1",
             window_start=start.isoformat(), window_end=(start + timedelta(seconds=60)).isoformat(),
             policy="no-emotion", k_anonymity=5, n_faces=20, attention_share=0.6, speech_share=0.3, engagement=0.5)
    d.update(over)
    return json.dumps(d).encode()


def inc(payload: bytes, topic: str = TOPIC, mid: int = 1) -> Incoming:
    return Incoming(topic, payload, mid, 1, None, time.time())


MALFORMED = [
    ("bad json", b"{nope", TOPIC, "not JSON"),
    ("wrong types", agg(n_faces="many"), TOPIC, "n_faces"),
    ("unknown field", agg(extra_field=1), TOPIC, "extra_field"),
    ("1 MB payload", b'{"a":"' + b"x" * 1_000_000 + b'"}', TOPIC, "exceeds"),
    ("wrong topic", agg(), "classpulse/v1/s1/r1/agg", "topic"),
    ("device mismatch", agg(), "classpulse/v1/s1/r1/d2/agg", "does not match"),
    ("future window", agg(window_start=(NOW + timedelta(hours=2)).isoformat(),
                          window_end=(NOW + timedelta(hours=2, minutes=1)).isoformat()), TOPIC, "future"),
    ("k violated", agg(policy="full", n_faces=3, expression_mix={"happy": 1.0, "angry": 0, "disgust": 0, "fear": 0,
                                                              "sad": 0, "surprise": 0, "neutral": 0}), TOPIC, "k=5"),
    ("command from device", b'{"schema":"classpulse.cmd"}', "classpulse/v1/s1/r1/d1/cmd", "may not publish"),
]


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    with store_for(request.param, tmp_path) as s:
        yield s


def test_dedup_and_dead_letters(store):
    svc = IngestService(PERMISSIVE, store)
    new = svc.process([inc(agg(1)), inc(agg(1)), inc(agg(2))])
    assert [a.msg_id for a in new] == [1, 2]
    assert svc.process([inc(agg(1))]) == []
    assert store.count("aggregates") == 2 and svc.stats.duplicates == 2
    svc.process([inc(p, t) for _, p, t, _ in MALFORMED])
    letters = store.dead_letters(100)
    assert len(letters) == len(MALFORMED)
    reasons = " | ".join(d["reason"] for d in letters)
    for name, _, _, needle in MALFORMED:
        assert needle in reasons, f"{name}: reason should mention {needle!r}"
    big = [d for d in letters if d["size"] > 100_000][0]
    assert len(big["preview"]) <= 256  # dead letters keep a short preview only
    assert store.count("aggregates") == 2


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400) | st.text(max_size=200).map(str.encode),
       st.sampled_from([TOPIC, "classpulse/v1/s1/r1/d1/health", "classpulse/v1/s1/r1/d1/status", "x/y"]))
def test_fuzzed_payloads_never_crash_and_are_dead_lettered(tmp_path_factory, payload, topic):
    from tests._store_helpers import store_for as sf

    with sf("sqlite", tmp_path_factory.mktemp("fz")) as s:
        svc = IngestService(PERMISSIVE, s)
        svc.process([inc(payload, topic)])
        assert s.count("dead_letters") + s.count("aggregates") + s.count("devices") >= 1


def test_real_broker_same_message_twice_stored_once(tmp_path):
    broker = start_mosquitto(tmp_path / "b")
    try:
        with store_for("sqlite", tmp_path) as store:
            cfg = AggregatorConfig.model_validate({"mqtt": {"port": broker.port, "client_id": "agg-t"}, **ACCEPT_UNREGISTERED})
            svc = IngestService(cfg, store)
            svc.start()
            assert svc.connected.wait(patient(10))
            pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
            pub.connect("127.0.0.1", broker.port)
            pub.loop_start()
            for p, t in [(agg(7), TOPIC), (agg(7), TOPIC), (b"garbage", TOPIC), (agg(8), TOPIC)]:
                pub.publish(t, p, qos=1).wait_for_publish(5)
            assert wait_for(lambda: svc.stats.received >= 4, 10), svc.stats
            assert wait_for(lambda: store.count("aggregates") == 2 and store.count("dead_letters") == 1, 10)
            svc.stop()
            pub.loop_stop()
            assert store.count("aggregates") == 2 and store.count("dead_letters") == 1
    finally:
        broker.stop()
