"""The audit log as the admin reads it: one entry per action with its number of students, rows kept per student."""

from __future__ import annotations

import pytest

from cloud_aggregator.store import open_store
from cloud_aggregator.web.audit import audit_events
from tests._dashboard_helpers import agg_config, copy_db, login, make_client, run_warnings


@pytest.fixture
def dash(tmpl, tmp_path):
    cfg = agg_config(copy_db(tmpl, tmp_path / "a.db"), tmpl["key"])
    store = open_store(cfg.store)
    run_warnings(store)
    app, client = make_client(store, cfg)
    yield store, client
    store.close()


def test_a_list_view_is_one_audit_entry_but_every_student_stays_findable(dash):
    store, client = dash
    c = client()
    login(c, "counsellor")
    shown = {w["student"] for w in c.get("/api/warnings").json()["warnings"]}
    assert len(shown) > 1
    a = client()
    login(a, "admin")
    events = a.get("/api/audit", params={"grouped": "true", "limit": 5}).json()
    views = [e for e in events if e["action"] == "view_warnings"]
    assert len(views) == 1 and views[0]["students"] == len(shown) and views[0]["username"] == "counsellor"
    assert "student_pseudonym" not in views[0]  # the overview never shows pseudonyms
    one = sorted(shown)[0]
    rows = a.get("/api/audit", params={"student": one}).json()  # "who looked at this student?" still answers
    assert [r["action"] for r in rows] == ["view_warnings"]


def test_audit_events_group_by_second_user_action_and_detail():
    rows = [{"ts": "2026-01-05T10:00:00.120Z", "username": "c", "role": "counsellor", "action": "view_warnings",
             "detail": "3 warnings", "student_pseudonym": p} for p in "abc"]
    rows += [{"ts": "2026-01-05T09:59:00Z", "username": "it", "role": "it", "action": "model_update", "detail": "x",
              "student_pseudonym": None},
             {"ts": "2026-01-05T09:58:00Z", "username": "c", "role": "counsellor", "action": "view_profile",
              "detail": "", "student_pseudonym": "a"}]
    ev = audit_events(rows, limit=2)
    assert [(e["action"], e["students"]) for e in ev] == [("view_warnings", 3), ("model_update", 0)]
