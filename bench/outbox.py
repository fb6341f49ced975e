"""Outbox throughput and broker-recovery time vs bare paho QoS 1 publish, measured in the same run.

    PYTHONPATH=. python bench/outbox.py [--n 500]
Prints one JSON object on its last line. No aggregator runs here, so the outbox is put in PUBACK mode
(as after ``outbox.ack_fallback_s`` without acks, see edge_agent.delivery): this measures the SQLite +
PUBACK path; end-to-end confirmed delivery is exercised by tests/test_delivery_e2e.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from datetime import datetime, timedelta, timezone  # noqa: E402

import paho.mqtt.client as mqtt  # noqa: E402
from _broker import start_mosquitto  # noqa: E402

from classpulse_contract.v1 import Aggregate, dumps  # noqa: E402
from edge_agent.config import AgentConfig  # noqa: E402
from edge_agent.mqtt_session import Publisher  # noqa: E402

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def agg(i: int) -> Aggregate:
    return Aggregate(msg_id=i, site="s1", room="r1", device="d1", window_start=T0 + timedelta(minutes=i),
                     window_end=T0 + timedelta(minutes=i + 1), policy="no-emotion", k_anonymity=5, n_faces=3)


def cfg(tmp: Path, port: int) -> AgentConfig:
    return AgentConfig.model_validate({
        "device": {"id": "d1", "site": "s1", "room": "r1"},
        "mqtt": {"host": "127.0.0.1", "port": port, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5},
        "outbox": {"path": str(tmp / "outbox.db"), "max_messages": 100_000},
    })


def bare_paho(port: int, n: int) -> float:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-bare")
    c.connect("127.0.0.1", port)
    c.loop_start()
    payloads = [dumps(agg(i)) for i in range(n)]
    t = time.perf_counter()
    for p in payloads:  # one in flight at a time, like the outbox, so the ratio isolates the SQLite cost
        c.publish("bench/bare", p, qos=1).wait_for_publish(10)
    dt = time.perf_counter() - t
    c.loop_stop()
    c.disconnect()
    return n / dt


def puback_mode_publisher(c: AgentConfig) -> Publisher:
    from edge_agent.delivery import ACK_MODE_KEY
    from edge_agent.outbox import Outbox

    o = Outbox(c.outbox.path)
    o.set_meta(ACK_MODE_KEY, 0)
    o.close()
    return Publisher(c)


def outbox_rate(tmp: Path, port: int, n: int) -> float:
    p = puback_mode_publisher(cfg(tmp, port))
    p.start()
    while not p.connected.is_set():
        time.sleep(0.01)
    aggs = [agg(i) for i in range(n)]
    t = time.perf_counter()
    for a in aggs:
        p.submit(a)
    while p.outbox.depth():
        time.sleep(0.001)
    dt = time.perf_counter() - t
    p.stop()
    return n / dt


def recovery_s(tmp: Path, n: int) -> dict:
    b = start_mosquitto(tmp / "rec")
    p = puback_mode_publisher(cfg(tmp / "rec", b.port))
    p.start()
    while not p.connected.is_set():
        time.sleep(0.01)
    b.stop()
    while p.connected.is_set():
        time.sleep(0.005)
    for i in range(n):
        p.submit(agg(i))
    time.sleep(1.0)
    t = time.perf_counter()
    b.start()  # returns once the port accepts; the agent may already be reconnecting
    up = t
    while not p.connected.is_set():
        time.sleep(0.005)
    reconnected = time.perf_counter() - up
    while p.outbox.depth():
        time.sleep(0.005)
    drained = time.perf_counter() - t
    p.stop()
    b.stop()
    return {"reconnect_s": round(reconnected, 3), "drain_backlog_s": round(drained, 3), "backlog": n}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=500)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        b = start_mosquitto(tmp)
        try:
            base = bare_paho(b.port, a.n)
            (tmp / "o").mkdir()
            ours = outbox_rate(tmp / "o", b.port, a.n)
        finally:
            b.stop()
        rec = recovery_s(tmp, a.n)
    print(json.dumps({"bench": "outbox", "n": a.n, "bare_paho_msgs_per_s": round(base, 1),
                      "outbox_msgs_per_s": round(ours, 1), "ratio_outbox_vs_bare": round(ours / base, 3),
                      **rec, "reconnect_max_s_config": 0.5}))


if __name__ == "__main__":
    main()
