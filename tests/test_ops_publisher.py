"""Publisher against a real mosquitto: order, PUBACK deletion, retained status/LWT, commands, outage."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import paho.mqtt.client as mqtt
import pytest
from _broker import start_mosquitto

from classpulse_contract.v1 import Aggregate, Command, dumps, parse_message, topic
from edge_agent.config import AgentConfig
from edge_agent.mqtt_session import Publisher, backoff_delay
from edge_agent.outbox import Outbox

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def agg(i: int) -> Aggregate:
    return Aggregate(msg_id=i, site="s1", room="r1", device="d1", window_start=T0 + timedelta(minutes=i),
                     window_end=T0 + timedelta(minutes=i + 1), policy="no-emotion", k_anonymity=5, n_faces=3)


def cfg(tmp_path, port: int, **mqtt_kw) -> AgentConfig:
    return AgentConfig.model_validate({
        "device": {"id": "d1", "site": "s1", "room": "r1"},
        "mqtt": {"host": "127.0.0.1", "port": port, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5, **mqtt_kw},
        "outbox": {"path": str(tmp_path / "outbox.db"), "max_messages": 1000},
    })


class Sink:
    """A subscriber collecting every message under the device prefix."""

    def __init__(self, port: int, pattern: str = "classpulse/v1/#") -> None:
        self.msgs: list[tuple[str, bytes, bool]] = []
        self.ready = threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sink-{time.monotonic_ns()}")
        self.c.on_connect = lambda c, *a: (c.subscribe(pattern, qos=1), self.ready.set())
        self.c.on_message = lambda c, u, m: self.msgs.append((m.topic, m.payload, m.retain))
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        assert self.ready.wait(5)
        time.sleep(0.2)

    def of(self, kind: str) -> list:
        return [parse_message(p)[0] for t, p, _ in self.msgs if t.endswith("/" + kind)]

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def wait_for(pred, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_backoff_is_jittered_and_bounded():
    vals = [backoff_delay(a, 1.0, 60.0) for a in range(40) for _ in range(5)]
    assert all(0 <= v <= 60.0 for v in vals)
    assert len(set(round(v, 6) for v in vals)) > 100


def test_outbox_bound_drops_oldest_and_counts(tmp_path):
    ob = Outbox(tmp_path / "o.db", max_messages=10)
    for i in range(25):
        ob.put("t", str(i).encode())
    assert ob.depth() == 10 and ob.dropped() == 15
    assert ob.peek().payload == b"15"
    ob.close()
    ob2 = Outbox(tmp_path / "o.db", max_messages=10)  # survives reopen
    assert ob2.depth() == 10 and ob2.dropped() == 15


def test_in_order_delivery_status_and_commands(tmp_path):
    b = start_mosquitto(tmp_path)
    try:
        sink = Sink(b.port)
        p = Publisher(cfg(tmp_path, b.port))
        p.on_command(lambda c: (True, f"did {c.command}"))
        p.start()
        for i in range(30):
            p.submit(agg(i))
        assert wait_for(lambda: len(sink.of("agg")) == 30)
        assert [a.msg_id for a in sink.of("agg")] == list(range(30))
        assert wait_for(lambda: p.outbox.depth() == 0)
        assert [s.state for s in sink.of("status")][:1] == ["online"]
        cmd = Command(cmd_id="c1", command="ping", issued_at=datetime.now(timezone.utc))
        sink.c.publish(topic("s1", "r1", "d1", "cmd"), dumps(cmd), qos=1)
        assert wait_for(lambda: sink.of("cmd/result"))
        res = sink.of("cmd/result")[0]
        assert res.ok and res.cmd_id == "c1" and res.detail == "did ping"
        p.stop()
        assert wait_for(lambda: sink.of("status")[-1].state == "offline")
        sink.close()
    finally:
        b.stop()


def test_last_will_is_retained_offline_after_crash(tmp_path):
    b = start_mosquitto(tmp_path)
    try:
        p = Publisher(cfg(tmp_path, b.port, keepalive_s=5))
        p.start()
        assert wait_for(lambda: p.connected)
        p._client.socket().close()  # abrupt network loss, no DISCONNECT -> broker sends the will
        p._stop.set()
        time.sleep(0.5)
        sink = Sink(b.port, topic("s1", "r1", "d1", "status"))
        assert wait_for(lambda: sink.msgs and parse_message(sink.msgs[-1][1])[0].state == "offline", 15)
        assert sink.msgs[-1][2] is True  # retained
        sink.close()
    finally:
        b.stop()


@pytest.mark.slow
def test_broker_outage_loses_nothing_and_keeps_order(tmp_path):
    b = start_mosquitto(tmp_path)
    try:
        sink = Sink(b.port)
        p = Publisher(cfg(tmp_path, b.port))
        p.start()
        for i in range(10):
            p.submit(agg(i))
        assert wait_for(lambda: len(sink.of("agg")) == 10)
        sink.close()
        b.stop()
        for i in range(10, 60):  # submitted while the broker is down: committed to the outbox
            p.submit(agg(i))
        assert p.outbox.depth() == 50
        time.sleep(1.0)
        b._launch()
        sink = Sink(b.port)
        assert wait_for(lambda: len(sink.of("agg")) >= 50, 20)
        got = [a.msg_id for a in sink.of("agg")]
        assert got == list(range(10, 60))
        assert wait_for(lambda: p.outbox.depth() == 0)
        p.stop()
        sink.close()
    finally:
        b.stop()
