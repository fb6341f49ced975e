"""Camera fails and returns: health says so within one window, and the agent recovers without a restart."""

from __future__ import annotations

import json

import cv2
import paho.mqtt.client as mqtt
import pytest

from tests._broker import start_mosquitto
from tests._procs import spawn, stop, wait_for, write_yaml

pytestmark = pytest.mark.slow


def short_clip(src, dst, seconds=4, fps=4):
    cap = cv2.VideoCapture(str(src))
    ok, f = cap.read()
    h, w = f.shape[:2]
    out = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for _ in range(seconds * fps):
        out.write(f)
        ok, nxt = cap.read()
        f = nxt if ok else f
    out.release()


def test_camera_unplugged_and_back(tmp_path, samples_dir):
    cam = tmp_path / "cam.mp4"
    short_clip(samples_dir / "classroom.mp4", cam)
    broker = start_mosquitto(tmp_path / "b")
    health: list[dict] = []
    aggs: list[dict] = []
    spy = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)

    def on_msg(c, u, m):
        (health if m.topic.endswith("/health") else aggs if m.topic.endswith("/agg") else []).append(json.loads(m.payload))

    spy.on_message = on_msg
    spy.connect("127.0.0.1", broker.port)
    spy.subscribe("classpulse/#", 1)
    spy.loop_start()
    cfg = write_yaml(tmp_path / "agent.yaml", {
        "device": {"id": "dev-c", "site": "s1", "room": "r1"}, "mqtt": {"port": broker.port},
        "window_s": 5, "health_interval_s": 5, "policy": "no-emotion",
        "video": {"source": f"camera:{cam}", "target_fps": 2}, "audio": {"source": None},
        "schedule": {"always": True}, "outbox": {"path": str(tmp_path / "outbox.db")},
    })
    agent = spawn(["edge-agent", "run", "--config", str(cfg)], tmp_path / "agent.log")
    try:
        assert wait_for(lambda: any(h.get("camera_ok") is True for h in health), 60), (tmp_path / "agent.log").read_text()[-2000:]
        n = len(health)
        cam.rename(tmp_path / "unplugged.mp4")  # the device disappears (the open capture runs out within 4 s)
        # idle machine: the clip runs out (4 s), then the next window (5 s) and health message (5 s) say so;
        # under load the agent reads the clip slower than real time, so the deadline is stretched (wait_for)
        assert wait_for(lambda: any(h.get("camera_ok") is False for h in health[n:]), 4 + 5 + 5 + 2), \
            "health must report the loss within about one window: " + (tmp_path / "agent.log").read_text()[-2000:]
        assert wait_for(lambda: any("no_camera" in a["quality"] for a in aggs), 20)
        (tmp_path / "unplugged.mp4").rename(cam)  # plugged back in
        n = len(health)
        assert wait_for(lambda: any(h.get("camera_ok") is True for h in health[n:]), 60)
        assert agent.poll() is None, "recovered without a restart"
    finally:
        stop(agent)
        spy.loop_stop()
        broker.stop()
