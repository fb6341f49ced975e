"""Dashboard view logic on a real store: lesson states, k-anonymous zones, warnings rules, i18n, scheduled reports."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from classpulse_contract import Aggregate, Status
from cloud_aggregator.config.web import DashboardConfig
from cloud_aggregator.i18n import LANGUAGES, catalogue
from cloud_aggregator.store import open_store
from cloud_aggregator.web import live, reports, scope, students
from tests._dashboard_helpers import agg_config, aggregate, copy_db, run_warnings

STATIC = Path(live.__file__).parent / "static"


@pytest.fixture
def store(tmpl, tmp_path):
    s = open_store(agg_config(copy_db(tmpl, tmp_path / "a.db"), tmpl["key"]).store)
    yield s
    s.close()


def _teacher(store, tmpl):
    u = next(u for u in tmpl["users"] if u["username"] == "teacher")
    return u, scope.teacher_sections(store, u["staff"])


def test_window_view_blanks_zones_under_k_and_tone_without_full_policy():
    msg = aggregate("north", "r101", "d", 1, policy="full", k_anonymity=5,
                    tone_mix={"neutral": 0.7, "happy": 0.3})
    w = live.window_view(msg, zone_k=6)
    by = {z["zone"]: z for z in w["zones"]}
    assert by["r0c0"]["attention_share"] == 0.8 and by["r1c0"]["attention_share"] == 0.5
    assert by["r0c1"]["attention_share"] is None  # 3 faces
    w7 = live.window_view(msg, zone_k=7)
    assert {z["zone"] for z in w7["zones"] if z["attention_share"] is not None} == {"r0c0"}
    assert w["tone_mix"] == {"neutral": 0.7, "happy": 0.3}
    assert live.window_view({**msg, "policy": "no-emotion"}, 5)["tone_mix"] is None
    assert 0 < w["participation"] < 1


def test_lesson_states(store, tmpl):
    cfg = DashboardConfig()
    u, secs = _teacher(store, tmpl)
    now = datetime.now(timezone.utc)
    assert live.teacher_live(store, cfg, secs, now)["state"] == "offline"  # demo lesson on, no device
    device = f"cp-north-{u['room']}"
    store.upsert_status("north", u["room"], Status(device=device, state="online", ts=now))
    st = live.teacher_live(store, cfg, secs, now)
    assert st["state"] == "no_data" and st["device"]["device"] == device
    a = Aggregate.model_validate(aggregate("north", u["room"], device, 7, start=now - timedelta(seconds=40)))
    store.write_batch([(a, now.isoformat())])
    st = live.teacher_live(store, cfg, secs, now)
    assert st["state"] == "live" and [w["msg_id"] for w in st["windows"]] == [7]
    store.upsert_status("north", u["room"], Status(device=device, state="offline", ts=now))
    later = now + timedelta(minutes=10)
    assert live.teacher_live(store, cfg, secs, later)["state"] == "offline"
    # without the demo slot and at 03:00 on a Sunday no lesson runs; the next one is named
    store.db.execute("DELETE FROM timetable_slots WHERE period LIKE 'demo%'")
    store.db.commit()
    sunday = datetime(2026, 3, 1, 3, 0, tzinfo=timezone.utc)
    st = live.teacher_live(store, cfg, secs, sunday)
    assert st["state"] == "outside" and st["lesson"] is None and st["next"]["section_id"] in secs


def test_usual_level_excludes_current_session(store, tmpl):
    u, _ = _teacher(store, tmpl)
    usual = live.usual_level(store, u["section"], None, 10)
    assert usual["n_sessions"] == 6 and 0.5 < usual["attention_share"] < 0.9
    one = live.usual_level(store, u["section"], None, 1)
    assert one["n_sessions"] == 1


def test_rule_warnings_levels_and_reasons():
    ind = students.Indicators("p1", att_recent=0.65, att_term=0.9, missing_recent=0.3, ontime_term=0.8,
                              score_recent=70, score_term=72, lms_recent_wk=10, lms_before_wk=60)
    ws = {w.type: w for w in students.rule_warnings(ind, "2025-W40")}
    assert ws["attendance"].level == 3 and ws["attendance"].params["recent"] == 65
    assert ws["submissions"].level == 2
    assert "academic" not in ws  # 2 points below term is noise
    assert ws["lms"].level == 2 and ws["lms"].id == "p1:lms:2025-W40"
    assert students.rule_warnings(students.Indicators("p2", att_recent=0.97, att_term=0.96), "w") == []


def test_drifting_students_are_flagged_more_than_others(store, tmpl):
    import csv

    from cloud_aggregator.records.keys import RecordsKeys

    keys = RecordsKeys.from_text(Path(tmpl["key"]).read_text())
    truth = list(csv.DictReader((Path(tmpl["school"]) / "_truth" / "students.csv").open()))
    drift = {keys.pseudonym(r["studentSourcedId"]) for r in truth if r["drifting"] == "1"}
    steady = {keys.pseudonym(r["studentSourcedId"]) for r in truth if r["drifting"] == "0"}
    run_warnings(store)
    flagged = {c["student"] for c in students.warning_cards(store, sorted(drift | steady)) if c["level"] >= 2}
    assert drift, "the demo school has drifting students"
    assert len(flagged & drift) / len(drift) > len(flagged & steady) / len(steady)


def test_catalogues_match_and_cover_every_key_the_ui_uses():
    en, zh = catalogue("en"), json.loads((STATIC / "i18n" / "zh-CN.json").read_text("utf-8"))
    assert set(LANGUAGES) == {"en", "zh-CN"}
    assert set(en) == set(zh), set(en) ^ set(zh)
    assert all(v.strip() for v in zh.values()) and any("\u4e00" <= ch <= "\u9fff" for ch in zh["nav.live"])
    used = set()
    for f in (STATIC / "js").glob("*.js"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z0-9_.]+)["']""", f.read_text("utf-8")))
    used |= set(re.findall(r'data-i18n="([^"]+)"', (STATIC / "index.html").read_text("utf-8")))
    prefixes = {k for k in used if k.endswith(".")}  # t("iv.kind." + kind): some key must follow
    assert all(any(k.startswith(p) for k in en) for p in prefixes), prefixes
    used -= prefixes
    assert used and used <= set(en), used - set(en)
    # every server-side message key (warning reasons, assistant texts, tone classes) is translated
    for key in ("reason.attendance", "reason.submissions", "reason.academic", "reason.lms", "assist.attention.falling",
                "assist.participation.low", "assist.talk.one_sided", "report.heatmap"):
        assert key in en and key in zh
    from classpulse_contract import TONE_CLASSES

    assert all(f"tone.{c}" in zh for c in TONE_CLASSES)


def test_scheduled_reports_written_once(store, tmp_path, monkeypatch):
    monkeypatch.setattr(reports, "departments", lambda _s: ["MATH"])  # one department keeps the test short
    today = datetime.now(timezone.utc).date() + timedelta(days=7)
    written = reports.run_scheduled(store, tmp_path, today, "en")
    names = {p.name for p in written}
    assert {"school.pdf", "school.csv"} <= names and any(n.startswith("department-") for n in names)
    assert all(p.stat().st_size > 0 for p in written)
    assert reports.run_scheduled(store, tmp_path, today, "en") == []  # already there
