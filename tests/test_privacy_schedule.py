"""Outside the timetable the live agent senses nothing: no aggregate leaves, health says sensing=false."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import paho.mqtt.client as mqtt
import pytest

from tests._broker import start_mosquitto
from tests._procs import spawn, stop, wait_for, write_yaml

pytestmark = pytest.mark.privacy


def test_no_sensing_outside_periods(tmp_path, samples_dir):
    broker = start_mosquitto(tmp_path / "b")
    try:
        now = datetime.now(timezone.utc)
        other_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][(now.weekday() + 3) % 7]
        cfg = write_yaml(tmp_path / "agent.yaml", {
            "device": {"id": "dev-s", "site": "s1", "room": "r1"},
            "mqtt": {"port": broker.port}, "window_s": 5, "health_interval_s": 5,
            "video": {"source": str(samples_dir / "classroom.mp4"), "target_fps": 2},
            "audio": {"source": str(samples_dir / "classroom.wav")},
            "schedule": {"timezone": "UTC", "periods": [{"days": [other_day], "start": "00:00", "end": "23:59"}]},
            "outbox": {"path": str(tmp_path / "outbox.db")},
        })
        seen: dict[str, list[bytes]] = {"agg": [], "health": []}
        spy = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        spy.on_message = lambda c, u, m: seen.setdefault(m.topic.rsplit("/", 1)[-1], []).append(bytes(m.payload))
        spy.connect("127.0.0.1", broker.port)
        spy.subscribe("classpulse/#", 1)
        spy.loop_start()
        agent = spawn(["edge-agent", "run", "--config", str(cfg)], tmp_path / "agent.log")
        try:
            assert wait_for(lambda: len(seen["health"]) >= 1, 60), (tmp_path / "agent.log").read_text()[-2000:]
            # two more health intervals (= two windows) of the agent's own time, however busy the machine
            assert wait_for(lambda: len(seen["health"]) >= 3, 12), (tmp_path / "agent.log").read_text()[-2000:]
        finally:
            stop(agent)
            spy.loop_stop()
        assert seen["agg"] == []
        h = json.loads(seen["health"][-1])
        assert h["sensing"] is False
    finally:
        broker.stop()
