"""Sample media → agent → real Mosquitto → aggregator → stored row → SSE event, all as real processes."""

from __future__ import annotations

import json
import threading

import httpx
import paho.mqtt.client as mqtt
import pytest

from tests._broker import free_port, start_mosquitto, wait_port
from tests._privacy_scan import scan_json_payload, scan_tree
from tests._procs import patient, spawn, stop, wait_for, write_yaml


def agent_config(tmp, port, samples, device="dev-a", room="room-101", policy="full", window_s=5):
    return write_yaml(tmp / f"agent-{device}.yaml", {
        "device": {"id": device, "site": "demo-school", "room": room},
        "mqtt": {"host": "127.0.0.1", "port": port},
        "policy": policy, "window_s": window_s, "health_interval_s": 5,
        "video": {"source": str(samples / "classroom.mp4"), "target_fps": 2},
        "audio": {"source": str(samples / "classroom.wav")},
        "schedule": {"always": True},
        # 5 s windows: one analysed frame may stand for one on this shared machine (default 3)
        "coverage": {"min_frames": 1},
        "outbox": {"path": str(tmp / device / "outbox.db")},
    })


@pytest.fixture
def broker(tmp_path):
    b = start_mosquitto(tmp_path / "broker")
    yield b
    b.stop()


ADMIN = ("admin", "admin-e2e-password")


def seed_admin(db_path, devices=(("dev-a", "demo-school", "room-101"),)) -> None:
    """The dashboard needs a login and the agent an enrolment: both go into the store before the aggregator starts."""
    from cloud_aggregator.config.store import StoreConfig
    from cloud_aggregator.store import open_store
    from cloud_aggregator.store.db import ensure_web_tables
    from cloud_aggregator.web import auth

    s = open_store(StoreConfig(path=db_path))
    ensure_web_tables(s)
    auth.create_user(s, *ADMIN, "admin")
    for device, site, room in devices:  # enrolled: ingest refuses devices the registry does not know
        s.upsert_device(device, site, room)
    s.close()


@pytest.fixture
def aggregator(tmp_path, broker):
    web_port = free_port()
    seed_admin(tmp_path / "agg" / "aggregator.db")
    cfg = write_yaml(tmp_path / "aggregator.yaml", {
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "client_id": "agg-e2e"},
        "store": {"backend": "sqlite", "path": str(tmp_path / "agg" / "aggregator.db")},
        "web": {"host": "127.0.0.1", "port": web_port},
    })
    p = spawn(["cloud-aggregator", "run", "--config", str(cfg)], tmp_path / "aggregator.log")
    assert wait_port(web_port, 30), (tmp_path / "aggregator.log").read_text()[-3000:]
    yield f"http://127.0.0.1:{web_port}"
    stop(p)


def test_sample_media_reaches_dashboard(tmp_path, broker, aggregator, samples_dir):
    events: list[dict] = []
    sse_open = threading.Event()

    client = httpx.Client(base_url=aggregator, timeout=None)
    assert httpx.get(f"{aggregator}/api/events").status_code == 401  # nothing without a session
    assert client.post("/api/login", json={"username": ADMIN[0], "password": ADMIN[1]}).status_code == 200

    def listen() -> None:
        with client.stream("GET", "/api/events") as r:
            assert r.status_code == 200
            sse_open.set()
            ev = None
            for line in r.iter_lines():
                if line.startswith("event: "):
                    ev = line[7:]
                elif line.startswith("data: ") and ev == "agg":
                    d = json.loads(line[6:])
                    events.append({**d["window"], "room": d["room"]})
                    if len(events) >= 2:
                        return

    threading.Thread(target=listen, daemon=True).start()
    assert sse_open.wait(patient(10))

    wire: list[bytes] = []
    spy = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    spy.on_message = lambda c, u, m: wire.append(bytes(m.payload))
    spy.connect("127.0.0.1", broker.port)
    spy.subscribe("classpulse/#", qos=1)
    spy.loop_start()

    cfg = agent_config(tmp_path, broker.port, samples_dir)
    agent = spawn(["edge-agent", "run", "--config", str(cfg), "--max-windows", "3"], tmp_path / "agent.log")
    try:
        assert agent.wait(timeout=120) == 0, (tmp_path / "agent.log").read_text()[-3000:]
    finally:
        stop(agent)
    assert wait_for(lambda: len(events) >= 2, 20), f"SSE saw {len(events)} events"
    spy.loop_stop()

    e = events[-1]
    assert e["device"] == "dev-a" and e["room"] == "room-101"
    for x in events:  # a window the vision stage did not cover says so; one it covered sees the room
        assert x["n_faces"] is None if "vision_starved" in x["coverage_flags"] else x["n_faces"] >= 5, x
    assert any(x["n_faces"] is not None for x in events), "no window had its vision measured"
    heard = [x for x in events if "audio_starved" not in x["coverage_flags"]]
    assert heard, "no window had its audio measured"
    assert all(0 < x["speech_share"] <= 1 for x in heard), heard  # the sample is a lesson: talk is heard
    assert all(x["speech_share"] is None for x in events if x not in heard)

    rooms = client.get("/api/rooms/latest").json()
    assert [r["room"] for r in rooms] == ["room-101"]
    from cloud_aggregator.config.store import StoreConfig
    from cloud_aggregator.store import open_store

    s = open_store(StoreConfig(path=tmp_path / "agg" / "aggregator.db"))
    devices = s.devices()
    s.close()
    assert devices and devices[0]["device"] == "dev-a" and devices[0]["state"] == "offline"  # clean stop

    # privacy: everything on the wire and everything the agent wrote holds aggregates only
    assert wire
    for p in wire:
        assert scan_json_payload(p) == []
    assert scan_tree(tmp_path / "dev-a") == []
