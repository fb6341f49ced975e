"""Warnings are produced once: the counsellor's list is what the engine's run stored and delivered, one card per
student, tags that agree with the profile, and a plain answer before the first run (demo school, real store,
real SMTP and webhook receivers)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cloud_aggregator.config.warnings import WarningsConfig
from cloud_aggregator.records.keys import RecordsKeys
from cloud_aggregator.store import db, open_store
from cloud_aggregator.warnings import engine, risk
from cloud_aggregator.warnings.student_rules import rule_warnings
from cloud_aggregator.warnings.tags import student_tags
from cloud_aggregator.web import scope
from tests._dashboard_helpers import agg_config, copy_db, login, make_client, records_now
from tests._warnings_helpers import SmtpSink, WebhookSink


@pytest.fixture
def env(tmpl, tmp_path):
    cfg = agg_config(copy_db(tmpl, tmp_path / "a.db"), tmpl["key"])
    store = open_store(cfg.store)
    _app, client = make_client(store, cfg)
    c = client()
    c.headers["X-CSRF-Token"] = login(c, "counsellor")
    yield store, c, RecordsKeys.from_text(tmpl["key"].read_text())
    store.close()


def _config(tmp_path, smtp_port: int, hook_url: str) -> WarningsConfig:
    (tmp_path / "hook.secret").write_bytes(b"webhook-secret-for-tests-0123456789")
    return WarningsConfig.model_validate({
        "schedule": "off", "routing": [{"types": [], "min_level": 1, "roles": ["teacher", "counsellor"]}],
        "risk": {"levels": {"watch": 0.05, "concern": 0.3, "urgent": 0.6, "below": False}},
        "delivery": {"email": {"host": "127.0.0.1", "port": smtp_port, "sender": "warnings@school.example"},
                     "webhook": {"url": hook_url, "secret_file": str(tmp_path / "hook.secret")},
                     "channels": {"teacher": ["email"], "advisor": ["email"], "counsellor": ["webhook"]},
                     "language": "en"}})


def _visible(store) -> list[str]:
    """The counsellor's assigned students (the scope the API applies)."""
    sid = db.query(store, "SELECT staff_sourced_id FROM web_users WHERE username = ?", ("counsellor",))[0]
    return sorted(scope.assigned_students(store, sid["staff_sourced_id"]))


def test_the_list_is_the_delivered_set_of_the_run_one_card_per_student(env, tmp_path):
    store, counsellor, keys = env
    with SmtpSink() as smtp, WebhookSink() as hooks:
        cfg = _config(tmp_path, smtp.port, hooks.url)
        now = records_now(store)
        risk.train(store, cfg, now)
        res = engine.run(store, cfg, keys, now=now)
        assert res["counts"]["delivered"].get("sent", 0) > 0 and len(smtp.mails) + len(hooks.hooks) > 0
    body = counsellor.get("/api/warnings").json()
    assert body["source"] == "engine" and body["run"]["run_id"] == res["run_id"] and body["note"] is None
    cards = body["warnings"]
    shown = [i for c in cards for i in c["ids"]]
    mine = set(_visible(store))
    sent = {r["warning_id"] for r in db.query(
        store, "SELECT DISTINCT d.warning_id FROM warning_deliveries d JOIN warning_log w ON w.id = d.warning_id "
               "WHERE d.status = 'sent' AND w.scope = 'student' AND w.last_run = ?", (res["run_id"],))}
    delivered = {i for i in sent if i.split(":")[0] in mine}
    assert delivered and sorted(shown) == sorted(delivered)  # no more, no fewer, none twice
    assert len({c["student"] for c in cards}) == len(cards)  # one card per student
    both = next(c for c in cards if c["model"] and c["rules"])  # rule reasons and the model's side by side
    assert both["model"]["reasons"][0]["key"] == "reason.risk" and all(w["type"] != "risk" for w in both["rules"])
    assert both["level"] == max([both["model"]["level"], *(w["level"] for w in both["rules"])])

    # records that change after the run do not change the list: nothing is evaluated at request time
    p = next(c["student"] for c in cards if "attendance" not in c["types"])
    today = now.date().isoformat()
    db.write(store, "UPDATE attendance SET status = 'absent' WHERE student_pseudonym = ? AND date >= ?",
             (p, (now - timedelta(days=14)).date().isoformat()))
    ind = engine.student_indicators(store, [p], today, cfg.students.recent_days)[0][p]
    assert "attendance" in {w.type for w in rule_warnings(ind, "w", cfg.students)}  # the rules would say so now
    assert counsellor.get("/api/warnings").json()["warnings"] == cards  # the list waits for the next run

    # one action on the card reaches each of its warnings
    for i in both["ids"]:
        assert counsellor.post(f"/api/warnings/{i}/action", json={"action": "acknowledge"}).status_code == 201
    again = {c["student"]: c for c in counsellor.get("/api/warnings").json()["warnings"]}
    assert again[both["student"]]["state"] == "acknowledge"


def test_tags_agree_with_the_profile(env):
    store, counsellor, _ = env
    cfg = WarningsConfig.model_validate({"schedule": "off"})
    engine.run(store, cfg, now=records_now(store), deliver=False)
    cards = counsellor.get("/api/warnings").json()["warnings"]
    tagged = [c for c in cards if c["tags"]]
    assert tagged
    seen = set()
    for c in tagged:
        prof = counsellor.get(f"/api/students/{c['student']}").json()
        assert prof["card"]["tags"] == c["tags"]
        ind, _, median = engine.student_indicators(store, [c["student"]], records_now(store).date().isoformat(),
                                                   cfg.students.recent_days)
        assert [t.to_dict() for t in student_tags(ind[c["student"]], cfg.tags, median, cfg.students.recent_days)] \
            == c["tags"]  # the run's tags are what the profile's indicators give
        att = prof["radar"]["attendance"]
        for t in c["tags"]:
            seen.add(t["id"])
            if t["id"] in ("irregular_attendance", "often_late"):
                assert t["evidence"]["recent"] == round(att * 100)  # the rate the profile shows
            if t["id"] == "irregular_attendance":
                assert att < cfg.tags.irregular_attendance_rate
            if t["id"] == "often_late":
                assert prof["indicators"]["late_recent"] >= cfg.tags.irregular_attendance_late
    assert "often_late" in seen  # the demo school has punctuality cases that once read "irregular attendance"


def test_before_the_first_run_the_api_says_so(env):
    store, counsellor, _ = env
    body = counsellor.get("/api/warnings").json()
    assert body["warnings"] == [] and body["run"] is None and "not run yet" in body["note"]
    assert body["students"] > 0
    p = _visible(store)[0]
    prof = counsellor.get(f"/api/students/{p}").json()
    assert prof["card"] is None and prof["run"] is None
    assert counsellor.post(f"/api/warnings/{p}:attendance:2025-W41/action",
                           json={"action": "acknowledge"}).status_code == 404  # never a warning the engine did not store
