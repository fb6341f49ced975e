"""The dashboard's queries on PostgreSQL (the district deployment): every view answers, same as on SQLite."""

from __future__ import annotations

from cloud_aggregator.config import AggregatorConfig
from cloud_aggregator.records.api import import_records
from cloud_aggregator.records.keys import ensure_key_file
from cloud_aggregator.web.demo import seed_demo_users
from tests._dashboard_helpers import ROOMS, login, make_client, run_warnings, template_db
from tests._store_helpers import store_for


def test_all_views_on_postgres(tmp_path, tmp_path_factory):
    tmpl = template_db(tmp_path_factory.getbasetemp() / "dash-template")
    with store_for("postgres", tmp_path) as store:
        keys = ensure_key_file(tmpl["key"])
        rep = import_records(store, tmpl["school"], "all", keys=keys, progress=False)
        assert not rep.errors
        cfg = AggregatorConfig.model_validate({"records": {"key_file": str(tmpl["key"])},
                                               "dashboard": {"report_schedule": "off"}})
        app, client = make_client(store, cfg)
        users = seed_demo_users(store, rooms=ROOMS)
        run_warnings(store)
        own = next(u["section"] for u in users if u["username"] == "teacher")
        t = client()
        h = {"X-CSRF-Token": login(t, "teacher")}
        live = t.get("/api/live").json()
        assert live["lesson"]["section_id"] == own and live["usual"]["n_sessions"] == 6
        assert t.get(f"/api/sections/{own}/assistant").status_code == 200
        assert t.post("/api/assistant/feedback", headers=h, json={
            "section_id": own, "session_id": "s", "suggestion_id": "x", "rule_id": "attention_drop",
            "verdict": "dismissed"}).status_code == 201
        assert t.get("/api/reports/weekly", params={"scope": f"section:{own}", "format": "csv"}).status_code == 200
        c = client()
        h = {"X-CSRF-Token": login(c, "counsellor")}
        ws = c.get("/api/warnings").json()["warnings"]
        assert ws and ws[0]["name"]
        p = ws[0]["student"]
        prof = c.get(f"/api/students/{p}").json()
        assert prof["radar"]["attendance"] is not None and prof["trends"]
        assert c.post(f"/api/students/{p}/interventions", headers=h, json={"kind": "meeting", "note": "n"}
                      ).status_code == 201
        assert c.post(f"/api/warnings/{ws[0]['id']}/action", headers=h, json={"action": "acknowledge"}
                      ).status_code == 201
        a = client()
        login(a, "admin")
        assert a.get("/api/warnings/summary").json()["students"] > 0
        assert "warning_level" in a.get("/api/reports/weekly", params={"scope": "school", "format": "csv"}).text
        assert a.get("/api/audit").json()
        i = client()
        login(i, "it")
        assert i.get("/api/fleet").status_code == 200

