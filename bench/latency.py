"""Dashboard latency: an aggregate published to the broker → visible in the teacher's page in headless Chromium.

Runs by itself: a private mosquitto, a small synthetic school (generated and imported into a
throwaway SQLite store), the real aggregator (``cloud_aggregator.runtime.build``: MQTT ingest + the
dashboard on uvicorn), and Chromium logged in as the demo teacher. Each message gets a window later
than the previous one, so when it is rendered the live view's ``data-last-msg`` attribute becomes
its id; a MutationObserver in the page stamps that moment (``Date.now()``, same clock as the
publisher's ``time.time()``). Baseline in the same run: a bare paho subscriber on the same broker,
stamping when the same messages arrive — so the ratio is the cost of ingest + SSE + rendering
over the broker hop.

    python bench/latency.py [--n 200] [--interval-ms 100]

Last line: one JSON object with p50_ms, p95_ms, max_ms, n (page), baseline_p95_ms and ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
OBSERVER = """() => {
  window.__seen = {};
  const stamp = () => { const el = document.querySelector('.live');
    if (el && el.dataset.lastMsg && !(el.dataset.lastMsg in window.__seen)) window.__seen[el.dataset.lastMsg] = Date.now(); };
  new MutationObserver(stamp).observe(document.getElementById('view'), {subtree: true, childList: true, attributes: true});
}"""


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def setup_school(tmp: Path):  # noqa: ANN201
    from cloud_aggregator.config import AggregatorConfig
    from cloud_aggregator.records.api import generate_demo_school, import_records
    from cloud_aggregator.records.keys import ensure_key_file
    from cloud_aggregator.store import open_store
    from cloud_aggregator.store.db import ensure_web_tables
    from cloud_aggregator.web.demo import seed_demo_users

    school = generate_demo_school(tmp / "school", seed=7, students=60, weeks=6, sites=("north",))
    keys = ensure_key_file(tmp / "records.key")
    cfg = AggregatorConfig.model_validate({"store": {"path": str(tmp / "agg.db")},
                                           "records": {"key_file": str(tmp / "records.key")}})
    store = open_store(cfg.store)
    import_records(store, school, "all", keys=keys, progress=False)
    ensure_web_tables(store)
    users = seed_demo_users(store, rooms=[("north", "r101"), ("north", "r102")])
    store.close()
    return next(u for u in users if u["username"] == "teacher")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--interval-ms", type=float, default=100.0, help="pause between messages")
    args = ap.parse_args()

    import paho.mqtt.client as mqtt
    import uvicorn  # noqa: F401 - fail early when the cloud extra is missing
    from playwright.sync_api import sync_playwright

    from cloud_aggregator.broker import free_port, start_mosquitto
    from cloud_aggregator.config import AggregatorConfig
    from cloud_aggregator.runtime import build

    tmp = Path(tempfile.mkdtemp(prefix="cp-latency-"))
    teacher = setup_school(tmp)
    broker = start_mosquitto()
    port = free_port()
    cfg = AggregatorConfig.model_validate({
        "mqtt": {"host": broker.host, "port": broker.port, "client_id": "latency-agg"},
        "store": {"path": str(tmp / "agg.db")}, "web": {"host": "127.0.0.1", "port": port},
        "records": {"key_file": str(tmp / "records.key")}, "dashboard": {"report_schedule": "off"},
        "ingest": {"unregistered_devices": "accept"}})  # simulated devices, not enrolled
    aggregator = build(cfg).start()

    site, room, device = "north", teacher["room"], f"cp-north-{teacher['room']}"
    topic = f"classpulse/v1/{site}/{room}/{device}/agg"
    arrived: dict[int, float] = {}
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="latency-baseline")
    sub.on_message = lambda _c, _u, m: arrived.setdefault(json.loads(m.payload)["msg_id"], time.time() * 1000)
    sub.connect(broker.host, broker.port)
    sub.subscribe(topic, qos=1)
    sub.loop_start()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="latency-pub")
    pub.connect(broker.host, broker.port)
    pub.loop_start()

    sent: dict[int, float] = {}
    result: dict = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"http://127.0.0.1:{port}/")
            page.fill("#username", "teacher")
            page.fill("#password", teacher["password"])
            page.click("#login-form button[type=submit]")
            page.wait_for_selector(".live[data-state]", timeout=20_000)
            page.wait_for_selector("#conn.on", timeout=20_000)
            page.evaluate(OBSERVER)
            t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=args.n + 60)
            for i in range(args.n):
                start = t0 + timedelta(seconds=i)
                msg = {"schema": "classpulse.agg", "version": "1.0", "msg_id": 100_000 + i, "site": site,
                       "room": room, "device": device, "window_start": start.isoformat(),
                       "window_end": (start + timedelta(seconds=1)).isoformat(), "policy": "no-emotion",
                       "k_anonymity": 5, "n_faces": 24, "attention_share": 0.7, "speech_share": 0.5,
                       "teacher_talk_share": 0.6, "hand_raises": 1, "engagement": 0.62}
                sent[msg["msg_id"]] = time.time() * 1000
                pub.publish(topic, json.dumps(msg), qos=1)
                time.sleep(args.interval_ms / 1000)
            deadline = time.time() + 10
            seen: dict = {}
            while time.time() < deadline:
                seen = page.evaluate("() => window.__seen")
                if len(seen) >= args.n:
                    break
                time.sleep(0.2)
            browser.close()
        lat = [seen[str(k)] - t for k, t in sent.items() if str(k) in seen]
        base = [arrived[k] - t for k, t in sent.items() if k in arrived]
        result = {"bench": "dashboard_latency", "n": len(lat), "sent": len(sent), "interval_ms": args.interval_ms,
                  "p50_ms": round(statistics.median(lat), 1), "p95_ms": round(pct(lat, 0.95), 1),
                  "max_ms": round(max(lat), 1), "baseline_n": len(base),
                  "baseline_p50_ms": round(statistics.median(base), 1), "baseline_p95_ms": round(pct(base, 0.95), 1)}
        result["ratio_p95"] = round(result["p95_ms"] / max(result["baseline_p95_ms"], 0.1), 1)
        result["ok"] = result["n"] == args.n and result["p95_ms"] < 500
    finally:
        pub.loop_stop()
        sub.loop_stop()
        aggregator.stop()
        broker.stop()
    print(json.dumps(result))
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
