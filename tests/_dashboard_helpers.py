"""Dashboard test helpers: a small demo school imported once, a real aggregator (ingest + web) in-process.

``template_db`` builds the school's database once per test session (generate, import, seed the demo
users); each test copies the file, so tests never share state. ``DashServer`` runs the same
``cloud_aggregator.runtime`` the CLI runs — real MQTT ingest against a real mosquitto, uvicorn
on a free port — in this process, so tests can also reach the store.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests._broker import free_port
from tests._cloud_helpers import ACCEPT_UNREGISTERED

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
#: marks of every Chromium test module: ``pytestmark = BROWSER_MARKS``
BROWSER_MARKS = [pytest.mark.browser,
                 pytest.mark.skipif(not Path(CHROMIUM).exists() and not shutil.which("chromium"), reason="no chromium")]
TABLET = {"width": 1180, "height": 820}  # the tablet the views are judged at
ROOMS = [("north", "r101"), ("north", "r102")]  # the two demo rooms of the small school
PASSWORDS = {"teacher": "teacher-demo", "teacher2": "teacher2-demo", "advisor": "advisor-demo",
             "counsellor": "counsellor-demo", "it": "it-fleet-demo", "admin": "admin-demo"}
_LOCK = threading.Lock()
_TEMPLATE: dict[str, Any] = {}


def template_db(base: Path) -> dict[str, Any]:
    """{'db': path, 'key': path, 'school': path, 'users': seed result}, built once per session."""
    with _LOCK:
        if _TEMPLATE:
            return _TEMPLATE
        from cloud_aggregator.config.store import StoreConfig
        from cloud_aggregator.records.api import generate_demo_school, import_records
        from cloud_aggregator.records.keys import ensure_key_file
        from cloud_aggregator.store import open_store
        from cloud_aggregator.store.db import ensure_web_tables
        from cloud_aggregator.web.demo import name_rooms, seed_demo_users

        base.mkdir(parents=True, exist_ok=True)
        school = generate_demo_school(base / "school", seed=7, students=60, weeks=6, sites=("north",))
        keys = ensure_key_file(base / "records.key")
        store = open_store(StoreConfig(path=base / "template.db"))
        try:
            rep = import_records(store, school, "all", keys=keys, progress=False)
            assert not rep.errors, rep.errors
            ensure_web_tables(store)
            users = seed_demo_users(store, rooms=ROOMS)
            name_rooms(store, school)
        finally:
            store.close()
        _TEMPLATE.update(db=base / "template.db", key=base / "records.key", school=school, users=users)
        return _TEMPLATE


def copy_db(tmpl: dict[str, Any], dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tmpl["db"], dest)
    return dest


def agg_config(db: Path, key: Path, mqtt_port: int = 1, web_port: int = 1, **dashboard: Any) -> Any:  # noqa: ANN401
    from cloud_aggregator.config import AggregatorConfig

    cfg = AggregatorConfig.model_validate({
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "client_id": f"dash-test-{web_port}"},
        "store": {"backend": "sqlite", "path": str(db)}, "web": {"host": "127.0.0.1", "port": web_port},
        "records": {"key_file": str(key)}, "dashboard": {"report_schedule": "off", **dashboard},
        **ACCEPT_UNREGISTERED})
    return cfg


def records_now(store: Any) -> datetime:  # noqa: ANN401
    """The day after the demo school's last attendance, at noon UTC: its records are fresh then."""
    last = store.db.query("SELECT MAX(date) AS d FROM attendance")[0]["d"]
    return datetime.fromisoformat(last + "T12:00:00+00:00") + timedelta(days=1)


def run_warnings(store: Any, with_model: bool = False, **cfg: Any) -> dict[str, Any]:  # noqa: ANN401
    """One warnings engine run (no delivery) at ``records_now``, after training the risk model if asked: the
    dashboard shows only what a run stored."""
    from cloud_aggregator.config.warnings import WarningsConfig
    from cloud_aggregator.warnings import engine, risk

    wcfg = WarningsConfig.model_validate({"schedule": "off", **cfg})
    now = records_now(store)
    if with_model:
        risk.train(store, wcfg, now)
    return engine.run(store, wcfg, now=now, deliver=False)


def make_client(store: Any, cfg: Any, **kw: Any) -> Any:  # noqa: ANN401
    from fastapi.testclient import TestClient

    from cloud_aggregator.web.app import create_app

    app = create_app(store, cfg, **kw)
    return app, (lambda: TestClient(app, base_url="http://dash.test"))


def ui_login(browser: Any, url: str, user: str, viewport: dict | None = None, **ctx: Any) -> tuple[Any, Any, list[str]]:  # noqa: ANN401
    """A new browser context logged in as ``user`` through the login form: (context, page, page errors)."""
    context = browser.new_context(viewport=viewport or {"width": 1280, "height": 800}, **ctx)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + "/")
    page.wait_for_selector("#login:not([hidden])")
    page.fill("#username", user)
    page.fill("#password", PASSWORDS[user])
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#nav:not([hidden])", timeout=15_000)  # the session cookie is set from here on
    return context, page, errors


def login(client: Any, user: str) -> str:  # noqa: ANN401
    r = client.post("/api/login", json={"username": user, "password": PASSWORDS[user]})
    assert r.status_code == 200, r.text
    return r.json()["csrf"]


@dataclass
class DashServer:
    """Aggregator (real MQTT ingest + dashboard) on a free port, in this process."""

    db: Path | None
    key: Path | None
    broker_port: int
    port: int = field(default_factory=free_port)
    cfg: Any = None  # a ready AggregatorConfig, served as it is (see ``of``), instead of agg_config(db, key, …)
    with_ingest: bool = True

    @classmethod
    def of(cls, cfg: Any, ingest: bool = True) -> DashServer:  # noqa: ANN401 - AggregatorConfig
        """Serve a config a test built itself (enrolment, TLS, …) on its own ``web.port``; ``ingest=False``
        leaves MQTT ingest unstarted (a test of the web side only)."""
        return cls(None, None, cfg.mqtt.port, cfg.web.port, cfg, ingest)

    def start(self) -> DashServer:
        from cloud_aggregator.runtime import build

        self.cfg = self.cfg or agg_config(self.db, self.key, self.broker_port, self.port)
        self.runtime = build(self.cfg).start(ingest=self.with_ingest)
        self.store, self.ingest = self.runtime.store, self.runtime.ingest
        return self

    def login(self, user: str) -> Any:  # noqa: ANN401 - httpx.Client
        """An HTTP client logged in as ``user`` (CSRF header set); the caller closes it."""
        import httpx

        c = httpx.Client(base_url=self.url)
        c.headers["X-CSRF-Token"] = login(c, user)
        return c

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.runtime.stop()


def aggregate(site: str, room: str, device: str, msg_id: int, start: datetime | None = None, **over: Any
              ) -> dict[str, Any]:
    start = start or datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=30)
    msg = {"schema": "classpulse.agg", "version": "1.0", "msg_id": msg_id, "site": site, "room": room,
           "device": device, "window_start": start.isoformat(), "window_end": (start + timedelta(seconds=30)).isoformat(),
           "policy": "no-emotion", "k_anonymity": 5, "n_faces": 23, "attention_share": 0.74, "speech_share": 0.4,
           "teacher_talk_share": 0.6, "hand_raises": 3, "engagement": 0.66,
           "zones": [{"zone": "r0c0", "n_faces": 8, "attention_share": 0.8}, {"zone": "r0c1", "n_faces": 3},
                     {"zone": "r1c0", "n_faces": 6, "attention_share": 0.5}, {"zone": "r1c1", "n_faces": 6,
                                                                              "attention_share": 0.9}]}
    msg.update(over)
    return msg


def publisher(port: int) -> Any:  # noqa: ANN401
    import paho.mqtt.client as mqtt

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"dash-test-pub-{port}-{time.monotonic_ns()}")
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def publish(client: Any, msg: dict[str, Any]) -> None:  # noqa: ANN401
    topic = f"classpulse/v1/{msg['site']}/{msg['room']}/{msg['device']}/agg"
    client.publish(topic, json.dumps(msg), qos=1).wait_for_publish(5)
