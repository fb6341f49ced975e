"""In real Chromium against a real server: the teacher page lists the class-level warnings of the teacher's own
sections; the counsellor sees the risk model's reasons and an intervention's effect."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from cloud_aggregator.config.warnings import WarningsConfig
from cloud_aggregator.store import db
from cloud_aggregator.store.warning_tables import WARNING_LOG
from cloud_aggregator.warnings import engine, risk
from tests._broker import start_mosquitto
from tests._dashboard_helpers import (
    BROWSER_MARKS,
    CHROMIUM,
    CHROMIUM_ARGS,
    DashServer,
    copy_db,
    template_db,
    ui_login,
)

pytestmark = BROWSER_MARKS


def _class_warning(section: str, wtype: str, level: int) -> dict:
    return {"id": f"{section}:{wtype}:2025-W40", "scope": "section", "subject": section, "section_id": section,
            "type": wtype, "level": level, "level_max": level,
            "reasons": json.dumps([{"key": "reason.class_attention", "params": {
                "recent": 41, "days": 3, "drop": 25, "usual": 70, "baseline_days": 10}}]),
            "tags": "[]", "intervention": json.dumps({"id": "school_own", "text": "Invite a colleague."}),
            "stale": 0, "stale_sources": "", "data_as_of": "2025-10-01", "first_run": "r", "last_run": "r",
            "first_seen": "2025-10-01T00:00:00Z", "last_seen": "2025-10-01T00:00:00Z", "active": 1, "step": 0,
            "step_role": "teacher", "routed_at": "2025-10-01T00:00:00Z", "state": "open"}


@pytest.fixture
def env(tmp_path, tmp_path_factory):
    """A real aggregator server on a copy of the small school, a private broker and headless Chromium."""
    from playwright.sync_api import sync_playwright

    tmpl = template_db(tmp_path_factory.getbasetemp() / "dash-template")
    broker = start_mosquitto(tmp_path / "broker")
    srv = DashServer(copy_db(tmpl, tmp_path / "a.db"), tmpl["key"], broker.port).start()
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield tmpl, srv, browser
    finally:
        browser.close()
        pw.stop()
        srv.stop()
        broker.stop()


def test_teacher_page_lists_and_acknowledges_class_warnings_of_own_sections_only(env):
    tmpl, srv, browser = env
    users = {u["username"]: u for u in tmpl["users"]}
    mine, other = users["teacher"]["section"], users["teacher2"]["section"]
    db.insert(srv.store, WARNING_LOG, [_class_warning(mine, "class_attention", 2),
                                       _class_warning(other, "class_attention", 3)])
    _, page, errors = ui_login(browser, srv.url, "teacher")
    page.wait_for_selector(".class-warnings [data-warning]", timeout=10_000)
    ids = page.eval_on_selector_all(".class-warnings [data-warning]", "els => els.map(e => e.dataset.warning)")
    assert ids == [f"{mine}:class_attention:2025-W40"]  # never another teacher's section
    text = page.inner_text(".class-warnings")
    assert "41%" in text and "70%" in text and "Invite a colleague." in text
    page.click(".class-warnings [data-ack]")
    page.wait_for_selector(".class-warnings [data-ack]", state="detached", timeout=5_000)
    rows = db.query(srv.store, "SELECT warning_id, by_user, action FROM warning_actions")
    assert rows == [{"warning_id": ids[0], "by_user": "teacher", "action": "acknowledge"}]
    assert not errors, errors


def test_counsellor_sees_risk_reasons_and_intervention_effect(env):
    _, srv, browser = env
    store = srv.store
    last = db.query(store, "SELECT MAX(date) AS d FROM attendance")[0]["d"]
    now = datetime.fromisoformat(last + "T12:00:00+00:00") + timedelta(days=1)
    cfg = WarningsConfig.model_validate({"schedule": "off", "risk": {"levels": {"watch": 0.05, "concern": 0.3,
                                                                                "urgent": 0.6, "below": False}}})
    risk.train(store, cfg, now)
    engine.run(store, cfg, now=now, deliver=False)
    student = db.query(store, "SELECT subject FROM warning_log WHERE type = ? ORDER BY level DESC LIMIT 1",
                       ("risk",))[0]["subject"]
    day = (datetime.fromisoformat(last) - timedelta(days=29)).date().isoformat()
    db.write(store, "INSERT INTO interventions (id, student_pseudonym, warning_id, by_user, created_at, kind, note_enc, "
                    "outcome, outcome_note_enc, outcome_at) VALUES (?, ?, NULL, ?, ?, ?, NULL, ?, NULL, ?)",
             ("iv1", student, "counsellor", day + "T09:00:00Z", "meeting", "improved", day + "T10:00:00Z"))
    assert risk.intervention_effects(store, cfg, risk.active(store), now) == 1
    _, page, errors = ui_login(browser, srv.url, "counsellor")
    page.goto(f"{srv.url}/#student/{student}")
    page.wait_for_selector("[data-k=effect]", timeout=10_000)
    text = page.inner_text(".profile")
    assert "Risk score" in text or "风险评分" in text
    effect = page.inner_text("[data-k=effect]")
    assert "%" in effect and ("not a causal effect" in effect or "并非因果效应" in effect)
    assert not errors, errors
