"""The live page in real headless Chromium: an aggregate published to the real broker appears without reload."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone

import paho.mqtt.client as mqtt
import pytest

from tests._broker import free_port, start_mosquitto, wait_port
from tests._procs import spawn, stop, write_yaml

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.mark.skipif(not shutil.which("chromium") and not shutil.os.path.exists(CHROMIUM), reason="no chromium")
def test_live_update_reaches_the_page(tmp_path, repo_root):
    from playwright.sync_api import sync_playwright

    broker = start_mosquitto(tmp_path / "b")
    web_port = free_port()
    cfg = write_yaml(tmp_path / "agg.yaml", {
        "mqtt": {"port": broker.port, "client_id": "agg-browser"},
        "store": {"path": str(tmp_path / "a.db")}, "web": {"port": web_port}})
    from tests.test_end_to_end import ADMIN, seed_admin

    seed_admin(tmp_path / "a.db", devices=[("dev-7", "s1", "room-7")])
    agg = spawn(["cloud-aggregator", "run", "--config", str(cfg)], tmp_path / "agg.log")
    try:
        assert wait_port(web_port, 30)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            page = context.new_page()
            base = f"http://127.0.0.1:{web_port}"
            assert context.request.get(f"{base}/api/rooms/latest").status == 401
            assert context.request.post(f"{base}/api/login",
                                        data={"username": ADMIN[0], "password": ADMIN[1]}).status == 200
            page.goto(f"{base}/")
            # the page's own session cookie opens the live stream; collect what it pushes
            page.evaluate("""() => { window.__aggs = []; const es = new EventSource('/api/events');
                es.addEventListener('agg', e => window.__aggs.push(JSON.parse(e.data))); window.__es = es; }""")
            page.wait_for_function("() => window.__es.readyState === 1", timeout=10_000)
            start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=60)
            msg = {"schema": "classpulse.agg", "version": "1.0", "msg_id": int(start.timestamp()), "site": "s1",
                   "room": "room-7", "device": "dev-7", "window_start": start.isoformat(),
                   "window_end": (start + timedelta(seconds=60)).isoformat(), "policy": "no-emotion",
                   "k_anonymity": 5, "n_faces": 23, "attention_share": 0.74, "speech_share": 0.4,
                   "hand_raises": 3, "engagement": 0.66}
            c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
            c.connect("127.0.0.1", broker.port)
            c.loop_start()
            c.publish("classpulse/v1/s1/room-7/dev-7/agg", json.dumps(msg), qos=1).wait_for_publish(5)
            page.wait_for_function("() => window.__aggs.length > 0", timeout=10_000)
            got = page.evaluate("() => window.__aggs[0]")
            assert got["room"] == "room-7" and got["window"]["n_faces"] == 23 and got["window"]["engagement"] == 0.66
            page.screenshot(path=str(repo_root / "test-artifacts" / "live_tablet.png"))
            c.loop_stop()
            browser.close()
    finally:
        stop(agg)
        broker.stop()
