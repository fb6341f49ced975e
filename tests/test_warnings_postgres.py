"""The warnings engine on PostgreSQL (the district deployment): run, outbox, escalation, dashboard views."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from cloud_aggregator.config import AggregatorConfig
from cloud_aggregator.config.warnings import WarningsConfig
from cloud_aggregator.records.api import import_records
from cloud_aggregator.records.keys import ensure_key_file
from cloud_aggregator.store import db
from cloud_aggregator.store.db import ensure_web_tables
from cloud_aggregator.warnings import engine
from cloud_aggregator.web.demo import seed_demo_users
from tests._dashboard_helpers import ROOMS, login, make_client, template_db
from tests._store_helpers import store_for
from tests._warnings_helpers import WebhookSink


def test_engine_on_postgres(tmp_path, tmp_path_factory):
    tmpl = template_db(tmp_path_factory.getbasetemp() / "dash-template")
    with store_for("postgres", tmp_path) as store, WebhookSink() as hooks:
        keys = ensure_key_file(tmpl["key"])
        assert not import_records(store, tmpl["school"], "all", keys=keys, progress=False).errors
        ensure_web_tables(store)
        seed_demo_users(store, rooms=ROOMS)
        (tmp_path / "s").write_bytes(b"x" * 32)
        cfg = WarningsConfig.model_validate({
            "schedule": "off", "escalation": {"after_h": 1},
            "delivery": {"webhook": {"url": hooks.url, "secret_file": str(tmp_path / "s")},
                         "channels": {"teacher": ["webhook"], "advisor": ["webhook"], "counsellor": ["webhook"]}}})
        last = db.query(store, "SELECT MAX(date) AS d FROM attendance")[0]["d"]
        now = datetime.fromisoformat(last + "T12:00:00+00:00") + timedelta(days=1)
        res = engine.run(store, cfg, keys, now=now)
        c = res["counts"]
        assert c["new"] > 0 and c["delivered"] == {"sent": c["deliveries_queued"]} == {"sent": len(hooks.hooks)}
        assert res["stale_sources"] == []
        assert engine.tick(store, cfg, keys, now=now + timedelta(hours=2))["escalated"] > 0
        assert db.query(store, "SELECT COUNT(*) AS n FROM warning_escalations")[0]["n"] > 0
        app, client = make_client(store, AggregatorConfig.model_validate({
            "records": {"key_file": str(tmpl["key"])}, "dashboard": {"report_schedule": "off"},
            "warnings": {"schedule": "off"}}))
        cl = client()
        login(cl, "counsellor")
        ws = cl.get("/api/warnings").json()["warnings"]
        assert ws and any(w["intervention"] for w in ws)
        runs = cl.get("/api/warnings/runs").json()
        assert runs["runs"][0]["version"] == res["version"] and runs["deliveries"]["sent"] == len(hooks.hooks)
        assert json.loads(db.query(store, "SELECT freshness FROM warning_runs")[0]["freshness"])["lms"]["latest"]
