"""Warnings engine on the demo school store: levels, reasons, tags, catalogue, freshness, opt-outs, config."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from cloud_aggregator.config import AggregatorConfig
from cloud_aggregator.config.warnings import ClassRules, Freshness, TagRules, Tiers, WarningsConfig
from cloud_aggregator.store import db, open_store
from cloud_aggregator.warnings import classlevel, engine, freshness, routing
from cloud_aggregator.warnings.catalogue import recommend
from cloud_aggregator.warnings.student_rules import Indicators, rule_warnings
from cloud_aggregator.warnings.tags import student_tags
from tests._dashboard_helpers import agg_config, copy_db


@pytest.fixture
def store(tmpl, tmp_path):
    s = open_store(agg_config(copy_db(tmpl, tmp_path / "a.db"), tmpl["key"]).store)
    yield s
    s.close()


def records_now(store) -> datetime:
    """The day after the demo school's last attendance, at noon UTC: its records are fresh then."""
    last = db.query(store, "SELECT MAX(date) AS d FROM attendance")[0]["d"]
    return datetime.fromisoformat(last + "T12:00:00+00:00") + timedelta(days=1)


STRICT_ATTENDANCE = {"students": {"attendance_rate": {"watch": 0.99, "concern": 0.97, "urgent": 0.95, "below": True},
                                  "attendance_watch_needs_drop": 0.0}}


# ---------------------------------------------------------------- pure parts
def test_config_section_is_strict_and_parents_are_off_by_default():
    cfg = AggregatorConfig.model_validate({"warnings": {"schedule": "off", "escalation": {"after_h": 2}}})
    assert cfg.warnings.escalation.after_h == 2 and not cfg.warnings.allow_parents
    with pytest.raises(ValidationError, match="extra"):
        AggregatorConfig.model_validate({"warnings": {"schedul": "off"}})
    with pytest.raises(ValidationError, match="allow_parents"):
        WarningsConfig.model_validate({"routing": [{"min_level": 3, "roles": ["parent"]}]})
    assert WarningsConfig.model_validate({"allow_parents": True, "routing": [{"min_level": 3, "roles": ["parent"]}]})
    with pytest.raises(ValidationError, match="stricter"):
        Tiers(watch=0.7, concern=0.8, urgent=0.9, below=True)


def test_tiers_and_configurable_rule_thresholds():
    t = Tiers(watch=0.9, concern=0.8, urgent=0.7, below=True)
    assert [t.level(x) for x in (0.95, 0.85, 0.75, 0.5, None)] == [0, 1, 2, 3, 0]
    ind = Indicators("p1", att_recent=0.85, att_term=0.86, late_recent=4)
    assert rule_warnings(ind, "2025-W40") == []  # below 90 % but no drop from the term: not even 'watch'
    strict = WarningsConfig.model_validate(STRICT_ATTENDANCE).students
    (w,) = rule_warnings(ind, "2025-W40", strict)
    assert (w.type, w.level, w.id) == ("attendance", 3, "p1:attendance:2025-W40")
    assert [r["key"] for r in w.to_dict()["reasons"]] == ["reason.attendance", "reason.late"]
    assert w.to_dict()["reasons"][0]["params"] == {"recent": 85, "term": 86, "days": 28}


def test_tags_carry_their_evidence():
    ind = Indicators("p", att_recent=0.8, late_recent=1, missing_recent=0.3, score_recent=55, score_term=70,
                     lms_recent_wk=5, lms_before_wk=60)
    tags = {t.id: t for t in student_tags(ind, TagRules(), cohort_lms_median=40, days=28)}
    assert set(tags) == {"declining_grades", "missing_submissions", "low_lms_activity", "irregular_attendance"}
    assert tags["declining_grades"].evidence == {"recent": 55, "term": 70, "drop": 15, "days": 28}
    assert tags["low_lms_activity"].label == "low LMS activity" and tags["low_lms_activity"].evidence["median"] == 40
    fine = Indicators("q", att_recent=0.98, missing_recent=0.0, score_recent=80, score_term=78, lms_recent_wk=50,
                      lms_before_wk=45)
    assert student_tags(fine, TagRules(), 40, 28) == []
    # late arrivals count as attended: a punctual-enough rate is "often late", never "irregular attendance"
    late = {t.id: t for t in student_tags(Indicators("r", att_recent=1.0, late_recent=3), TagRules(), None, 28)}
    assert set(late) == {"often_late"} and late["often_late"].evidence == {"recent": 100, "late": 3, "days": 28}


def test_catalogue_defaults_and_overrides():
    assert recommend(WarningsConfig(), "attendance", 2).id == "attendance_contact_home"
    cfg = WarningsConfig.model_validate({"catalogue": {"attendance": {1: {"id": "buddy", "text": "Assign a buddy.",
                                                                          "resource": "https://x.example/b"}}}})
    assert recommend(cfg, "attendance", 1).id == "buddy"
    assert recommend(cfg, "attendance", 3).id == "buddy"  # nearest configured lower level wins over the built-in
    assert recommend(cfg, "lms", 3).id == "lms_plan"


def test_routing_roles_steps_and_chain():
    cfg = WarningsConfig()
    assert routing.initial_roles(cfg, "academic", 1) == ["teacher"]
    assert routing.initial_roles(cfg, "attendance", 2) == ["teacher", "advisor"]
    assert routing.initial_roles(cfg, "submissions", 3) == ["teacher", "counsellor"]
    assert routing.step_of(cfg, "attendance", ["teacher", "advisor"]) == 1
    assert routing.next_role(cfg, "attendance", 1) == "counsellor"
    assert routing.next_role(cfg, "attendance", 2) is None
    assert routing.initial_roles(cfg, "class_attention", 1) == ["teacher"]
    assert routing.next_role(cfg, "class_attention", 0) is None  # class chain: teacher only by default


def test_sustained_drop_needs_every_recent_day():
    rules = ClassRules(recent_days=3, baseline_days=10, min_baseline_days=3)
    base = [(f"d{i:02d}", 0.7) for i in range(10)]
    hit = classlevel.detect([*base, ("r1", 0.4), ("r2", 0.42), ("r3", 0.41)], rules, rules.drop, rise=False)
    assert hit is not None and hit[0] == 3 and round(hit[2], 2) == 0.7
    assert classlevel.detect([*base, ("r1", 0.4), ("r2", 0.7), ("r3", 0.41)], rules, rules.drop, rise=False) is None
    assert classlevel.detect([("a", 0.7), ("b", 0.7), ("c", 0.3)], rules, rules.drop, rise=False) is None  # no baseline
    tone = classlevel.detect([*[(f"d{i}", 0.1) for i in range(5)], ("r1", 0.35), ("r2", 0.4), ("r3", 0.45)], rules,
                             rules.tone_rise, rise=True)
    assert tone is not None and tone[0] == 2


@given(st.lists(st.floats(0.05, 1.0), min_size=4, max_size=30), st.floats(0.0, 0.5))
def test_no_drop_warning_when_recent_days_are_not_lower(values, lift):
    rules = ClassRules(recent_days=3, baseline_days=10, min_baseline_days=1)
    series = [(f"d{i:02d}", v) for i, v in enumerate(values)]
    top = max(v for _, v in series[:-3][-10:]) if len(series) > 3 else 1.0
    series[-3:] = [(d, min(1.0, top + lift)) for d, _ in series[-3:]]
    assert classlevel.detect(series, rules, rules.drop, rise=False) is None


def test_freshness_flags_old_and_missing_sources():
    now = datetime(2025, 10, 20, 12, tzinfo=timezone.utc)
    f = freshness.assess({"attendance": "2025-10-19", "lms": "2025-10-01", "results": None}, now,
                         Freshness(max_age_days={"attendance": 3, "lms": 3, "results": 21}))
    assert not f["attendance"].stale and f["attendance"].age_days == 0.5
    assert f["lms"].stale and f["lms"].age_days == 18.5
    assert f["results"].stale and f["results"].latest is None


# ---------------------------------------------------------------- runs on the demo school
def test_run_records_warnings_with_levels_reasons_tags_and_the_run(store):
    cfg = WarningsConfig.model_validate({**STRICT_ATTENDANCE, "schedule": "off"})
    res = engine.run(store, cfg, now=records_now(store))
    c = res["counts"]
    assert c["new"] == c["warnings"] > 0 and res["stale_sources"] == [] and c["students"] > 0 and c["opted_out"] >= 1
    rows = db.query(store, "SELECT * FROM warning_log WHERE scope = 'student'")
    assert {r["type"] for r in rows} >= {"attendance", "academic", "lms"}
    for r in rows:
        reasons = json.loads(r["reasons"])
        assert 1 <= r["level"] <= 3 and reasons and reasons[0]["key"].startswith("reason.")
        assert json.loads(r["intervention"])["text"] and r["state"] == "open" and r["stale"] == 0
        assert r["section_id"], "each student warning names the class it is mostly about (for its teacher)"
    tagged = [json.loads(r["tags"]) for r in rows if json.loads(r["tags"])]
    assert tagged and all(t["evidence"] and t["label"] for ts in tagged for t in ts)
    run = db.query(store, "SELECT * FROM warning_runs")
    assert len(run) == 1 and run[0]["version"].startswith("rules-1+") and run[0]["finished_at"]
    fr = json.loads(run[0]["freshness"])
    assert set(fr) == {"attendance", "submissions", "results", "lms", "aggregates"}
    assert fr["attendance"]["latest"] and not fr["attendance"]["stale"]
    # same data again: nothing new, nothing resolved, the rules version is stable
    again = engine.run(store, cfg, now=records_now(store))
    assert again["counts"]["new"] == 0 and again["counts"]["resolved"] == 0 and again["version"] == res["version"]


def test_opted_out_students_get_no_warning(store):
    cfg = WarningsConfig.model_validate({**STRICT_ATTENDANCE, "schedule": "off"})
    opted = {r["pseudonym"] for r in db.query(store, "SELECT pseudonym FROM users WHERE role = 'student' AND opt_out = 1")}
    assert opted, "the demo school has opted-out students"
    engine.run(store, cfg, now=records_now(store))
    warned = {r["subject"] for r in db.query(store, "SELECT subject FROM warning_log WHERE scope = 'student'")}
    assert warned and not warned & opted
    # a student who opts out later: their warnings stop at the next run
    p = sorted(warned)[0]
    db.write(store, "UPDATE users SET opt_out = 1 WHERE pseudonym = ?", (p,))
    engine.run(store, cfg, now=records_now(store))
    rows = db.query(store, "SELECT active, state FROM warning_log WHERE subject = ?", (p,))
    assert rows and all(r["active"] == 0 and r["state"] == "suppressed" for r in rows)


def test_stale_attendance_marks_warnings_stale_and_missing_data_never_resolves(store):
    cfg = WarningsConfig.model_validate({**STRICT_ATTENDANCE, "schedule": "off"})
    now = records_now(store)
    engine.run(store, cfg, now=now)
    before = {r["id"] for r in db.query(store, "SELECT id FROM warning_log WHERE type = 'attendance'")}
    assert before
    cutoff = (now - timedelta(days=10)).date().isoformat()
    db.write(store, "DELETE FROM attendance WHERE date > ?", (cutoff,))
    res = engine.run(store, cfg, now=now)
    assert res["stale_sources"] == ["attendance"] and res["freshness"]["attendance"]["latest"] <= cutoff
    att = db.query(store, "SELECT * FROM warning_log WHERE type = 'attendance' AND active = 1")
    assert att and all(r["stale"] == 1 and r["stale_sources"] == "attendance" and r["data_as_of"] <= cutoff
                       for r in att)
    others = db.query(store, "SELECT stale FROM warning_log WHERE type <> 'attendance' AND active = 1")
    assert others and not any(r["stale"] for r in others)
    assert res["counts"]["stale_warnings"] == len(att)
    run = db.query(store, "SELECT stale_sources, freshness FROM warning_runs ORDER BY started_at DESC LIMIT 1")[0]
    assert run["stale_sources"] == "attendance" and json.loads(run["freshness"])["attendance"]["stale"]
    # LMS data gone entirely: flagged missing, and yesterday's LMS warnings stay (unknown is not low risk)
    lms_before = {r["id"] for r in db.query(store, "SELECT id FROM warning_log WHERE type = 'lms' AND active = 1")}
    db.write(store, "DELETE FROM lms_activity")
    res = engine.run(store, cfg, now=now)
    assert "lms" in res["stale_sources"] and res["freshness"]["lms"]["latest"] is None
    assert lms_before and lms_before <= {r["id"] for r in db.query(store, "SELECT id FROM warning_log WHERE type = "
                                                                         "'lms' AND active = 1")}


def test_cli_run_on_demand_and_run_history(store, tmpl, tmp_path, capsys):
    from cloud_aggregator.cli import main

    path = store.db.query("PRAGMA database_list")[0]["file"]
    cfg = tmp_path / "agg.yaml"
    cfg.write_text(f"store: {{backend: sqlite, path: '{path}'}}\nrecords: {{key_file: '{tmpl['key']}'}}\n"
                   "warnings:\n  schedule: 'off'\n  escalation: {after_h: 1}\n")
    day = records_now(store).date().isoformat()
    assert main(["warnings", "run", "--config", str(cfg), "--as-of", day, "--no-deliver"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["counts"]["warnings"] > 0 and out["stale_sources"] == [] and out["version"].startswith("rules-1+")
    assert main(["warnings", "runs", "--config", str(cfg)]) == 0
    hist = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in hist["runs"]] == [out["run_id"]] and hist["runs"][0]["trigger"] == "cli"
    assert main(["config", "check", str(cfg)]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("warnings: {routing: [{min_level: 3, roles: [parent]}]}\n")
    assert main(["config", "check", str(bad)]) == 2


def test_scheduler_runs_inside_the_server_process(tmpl, tmp_path):
    from cloud_aggregator.runtime import build
    from tests._broker import free_port
    from tests._procs import wait_for

    cfg = agg_config(copy_db(tmpl, tmp_path / "a.db"), tmpl["key"], web_port=free_port())
    cfg.warnings = WarningsConfig(first_run_delay_s=0, interval_min=60)
    aggregator = build(cfg).start(ingest=False)  # the runtime starts the scheduler, as `cloud-aggregator run` does
    try:
        wait_for(lambda: db.query(aggregator.store, "SELECT 1 FROM warning_runs"), 20)
        runs = db.query(aggregator.store, "SELECT trigger, stale_sources, error FROM warning_runs")
    finally:
        aggregator.stop()
    assert len(runs) == 1 and runs[0]["trigger"] == "schedule" and runs[0]["error"] is None
    assert "attendance" in runs[0]["stale_sources"]  # the demo records are from 2025: stale today, and said so


def test_escalate_pressed_in_the_dashboard_moves_on_at_the_next_tick(store):
    from cloud_aggregator.store import iso
    from cloud_aggregator.store.web_tables import WARNING_ACTIONS

    cfg = WarningsConfig.model_validate({"schedule": "off", "routing": [{"min_level": 1, "roles": ["teacher"]}]})
    now = records_now(store)
    engine.run(store, cfg, now=now)
    w = db.query(store, "SELECT id, subject FROM warning_log WHERE scope = 'student' AND step_role = 'teacher' "
                        "ORDER BY id LIMIT 1")[0]
    assert engine.escalate(store, cfg, now + timedelta(minutes=5)) == 0  # nothing due, nothing pressed
    db.insert(store, WARNING_ACTIONS, [{"id": "a1", "warning_id": w["id"], "student_pseudonym": w["subject"],
                                        "by_user": "counsellor", "ts": iso(now + timedelta(minutes=6)),
                                        "action": "escalate", "note_enc": None}])
    assert engine.escalate(store, cfg, now + timedelta(minutes=7)) == 1
    (e,) = db.query(store, "SELECT * FROM warning_escalations")
    assert (e["warning_id"], e["from_role"], e["to_role"], e["reason"]) == (w["id"], "teacher", "advisor", "manual")
    assert engine.escalate(store, cfg, now + timedelta(minutes=8)) == 0  # once per press


def test_a_warning_that_gets_worse_reaches_the_roles_of_its_new_level(store):
    route = {"schedule": "off", "delivery": {"webhook": {"url": "http://127.0.0.1:9/none", "secret_file": "/dev/null"},
                                             "channels": {"teacher": ["webhook"], "counsellor": ["webhook"]}},
             "routing": [{"min_level": 1, "roles": ["teacher"]}, {"min_level": 3, "roles": ["counsellor"]}]}
    now = records_now(store)
    engine.run(store, WarningsConfig.model_validate(route), now=now, deliver=False)
    mild = {r["id"] for r in db.query(store, "SELECT id FROM warning_log WHERE type = 'submissions' AND level < 3")}
    assert mild
    strict = {**route, "students": {"missing_share": {"watch": 0.01, "concern": 0.02, "urgent": 0.03, "below": False}}}
    res = engine.run(store, WarningsConfig.model_validate(strict), now=now, deliver=False)
    assert res["counts"]["raised"] >= len(mild) and res["version"] != engine.rules_version(WarningsConfig())
    for wid in mild:
        roles = {d["role"] for d in db.query(store, "SELECT role FROM warning_deliveries WHERE warning_id = ?", (wid,))}
        assert "counsellor" in roles
        row = db.query(store, "SELECT level, level_max, step_role FROM warning_log WHERE id = ?", (wid,))[0]
        assert row["level"] == row["level_max"] == 3 and row["step_role"] == "counsellor"
