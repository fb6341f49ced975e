"""The demo on a borrowed broker leaves nothing there: no persistent session, no retained message.

A real mosquitto stands in for the system broker; the real ``cloud-aggregator demo`` runs against it as a
process with one agent, is stopped with SIGINT once the agent's retained status arrived, and the broker
is then asked what the demo left: sessions of its client ids (a clean=False connect reports
``session_present``) and retained messages under ``classpulse/``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from tests._broker import free_port, start_mosquitto

REPO = Path(__file__).resolve().parents[1]


def _retained(port: int, wait_s: float = 3.0) -> dict[str, bytes]:
    got: dict[str, bytes] = {}
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="", clean_session=True)
    c.on_connect = lambda cl, *_a: cl.subscribe("classpulse/#", qos=1)
    c.on_message = lambda _c, _u, m: got.__setitem__(m.topic, bytes(m.payload)) if m.retain else None
    c.connect("127.0.0.1", port)
    c.loop_start()
    time.sleep(wait_s)  # retained messages come right after the subscription
    c.disconnect()
    c.loop_stop()
    return got


def _session_present(port: int, client_id: str) -> bool:
    seen = threading.Event()
    present: list[bool] = []

    def on_connect(_c, _u, flags, _rc, _p=None) -> None:  # noqa: ANN001
        present.append(bool(flags.session_present))
        seen.set()

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    c.on_connect = on_connect
    c.connect("127.0.0.1", port)
    c.loop_start()
    assert seen.wait(20)
    c.disconnect()  # this probe's own session is ended below with a clean connect
    c.loop_stop()
    c2 = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    c2.connect("127.0.0.1", port)
    c2.loop_start()
    time.sleep(0.5)
    c2.disconnect()
    c2.loop_stop()
    return present[0]


@pytest.mark.slow
def test_demo_on_a_borrowed_broker_leaves_no_session_and_no_retained_message(tmp_path):
    broker = start_mosquitto(tmp_path / "broker")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1"}
    log = (tmp_path / "demo.log").open("wb")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "cloud-aggregator"), "demo", "--data", str(tmp_path / "d"),
                             "--port", str(free_port()), "--agents", "1", "--broker", f"127.0.0.1:{broker.port}"],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 900  # school import + model start-up on a busy 2-core machine
        status: dict[str, bytes] = {}
        while time.monotonic() < deadline and proc.poll() is None:
            status = {t: p for t, p in _retained(broker.port, 1.0).items() if t.endswith("/status") and p}
            if status:
                break
        assert status, (tmp_path / "demo.log").read_text(errors="replace")[-3000:]
        device = next(iter(status)).split("/")[-2]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=180) == 0
        left = {t: p for t, p in _retained(broker.port).items() if p}
        assert left == {}, left
        blog = broker.conf.with_suffix(".log").read_text(errors="replace")
        aggregators = set(re.findall(r" as (classpulse-demo-[0-9a-f]+) ", blog))
        assert aggregators, blog[-2000:]
        for cid in [f"cp-{device}", *aggregators]:
            assert not _session_present(broker.port, cid), cid
    finally:
        if proc.poll() is None:
            proc.kill()
        broker.stop()
