"""A student who opts out (OneRoster ``metadata.classpulse.optOut``) or is disabled (``enabledUser=false``)
disappears everywhere at once: no warning, no e-mail, no place in a list, a count or a report, no part in the
risk model's training set or its comparison groups.

Each surface reads students through ``cloud_aggregator.store.analysable``; each test here fails when that
condition is dropped from one of its callers. The change arrives the way a school sends it, as a OneRoster
delta import, after a warnings run has already stored warnings and queued deliveries about both students:
the dashboard and the outbox must leave them out before the next run does.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from cloud_aggregator.config.warnings import WarningsConfig
from cloud_aggregator.records.api import import_records
from cloud_aggregator.records.keys import RecordsKeys
from cloud_aggregator.store import db, open_store
from cloud_aggregator.warnings import delivery, engine, risk
from cloud_aggregator.warnings.delivery import Contacts
from tests._dashboard_helpers import agg_config, copy_db, login, make_client, records_now
from tests._warnings_helpers import SmtpSink

pytestmark = pytest.mark.privacy


def _config(smtp_port: int) -> WarningsConfig:
    return WarningsConfig.model_validate({
        "schedule": "off", "dashboard_url": "https://dash.school.example",
        # every student warning goes to the teacher, the advisor and the counsellor by e-mail
        "routing": [{"types": [], "min_level": 1, "roles": ["teacher", "advisor", "counsellor"]}],
        "students": {"attendance_rate": {"watch": 0.99, "concern": 0.97, "urgent": 0.95, "below": True},
                     "attendance_watch_needs_drop": 0.0},
        "delivery": {"email": {"host": "127.0.0.1", "port": smtp_port, "sender": "warnings@school.example"},
                     "channels": {"teacher": ["email"], "advisor": ["email"], "counsellor": ["email"]},
                     "language": "en"},
        "risk": {"kind": "logistic", "comparison_band": 1.0}})  # band 1: every scored student is a comparison peer


def _kept(store: Any) -> set[str]:  # noqa: ANN401
    """The oracle, written here on purpose rather than with the product's helper: enabled and not opted out."""
    return {r["pseudonym"] for r in db.query(store, "SELECT pseudonym, opt_out, enabled FROM users WHERE role = "
                                                    "'student'") if r["opt_out"] == 0 and r["enabled"] == 1}


def _delta_import(store: Any, school: Path, keys: RecordsKeys, tmp: Path, opt_out: str, disable: str) -> None:  # noqa: ANN401
    """What the school's SIS sends: users.csv with the two changed rows only (OneRoster delta)."""
    text = (school / "oneroster" / "users.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    changed = []
    for r in rows:
        if r["sourcedId"] == opt_out:
            changed.append({**r, "metadata.classpulse.optOut": "true"})
        elif r["sourcedId"] == disable:
            changed.append({**r, "enabledUser": "false"})
    assert len(changed) == 2
    folder = tmp / "delta"
    folder.mkdir()
    with (folder / "users.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(changed)
    rep = import_records(store, folder, "oneroster", keys=keys, progress=False)
    assert not rep.errors and not rep.rejected and rep.files["users.csv"].updated == 2, rep.summary()


def _classmates(store: Any, rows: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:  # noqa: ANN401
    """Two of ``rows`` who share a section, so every report scope holds both the opted-out and the disabled one."""
    sections = {}
    for r in db.query(store, "SELECT user_pseudonym AS p, section_sourced_id AS s FROM enrollments WHERE role = "
                             "'student'"):
        sections.setdefault(r["p"], set()).add(r["s"])
    for i, a in enumerate(rows):
        for b in rows[i + 1:]:
            if sections.get(a["p"], set()) & sections.get(b["p"], set()):
                return a, b
    raise AssertionError("no two warned students share a section")


@pytest.fixture
def env(tmpl, tmp_path):
    """After one run (warnings stored, deliveries queued, nothing sent) two warned students leave: one opts out,
    one is disabled. Yields (store, keys, cfg, smtp, (opted, disabled), client factory)."""
    path = copy_db(tmpl, tmp_path / "a.db")
    store = open_store(agg_config(path, tmpl["key"]).store)
    keys = RecordsKeys.from_text(Path(tmpl["key"]).read_text())
    with SmtpSink() as smtp:
        cfg = _config(smtp.port)
        engine.run(store, cfg, keys, now=records_now(store), deliver=False)
        assert len(_kept(store)) < 60, "the demo school has an opted-out student of its own"
        queued = db.query(store, "SELECT DISTINCT w.subject AS p, u.sourced_id AS s FROM warning_log w JOIN "
                                 "warning_deliveries d ON d.warning_id = w.id JOIN users u ON u.pseudonym = w.subject "
                                 "WHERE w.scope = 'student' AND w.active = 1 AND d.status = 'pending' ORDER BY w.subject")
        assert len(queued) >= 4, "the strict attendance rule warns about several students"
        a, b = _classmates(store, queued)
        gone = (a["p"], b["p"])
        _delta_import(store, tmpl["school"], keys, tmp_path, a["s"], b["s"])
        assert not set(gone) & _kept(store)
        _app, client = make_client(store, agg_config(path, tmpl["key"]))
        yield store, keys, cfg, smtp, gone, client
    store.close()


def _as(client: Any, user: str) -> Any:  # noqa: ANN401
    c = client()
    c.headers["X-CSRF-Token"] = login(c, user)
    return c


def _level_counts(store: Any, students: set[str]) -> dict[int, int]:  # noqa: ANN401
    out: dict[int, int] = {}
    for r in db.query(store, "SELECT subject, level FROM warning_log WHERE scope = 'student' AND active = 1"):
        if r["subject"] in students:
            out[int(r["level"])] = out.get(int(r["level"]), 0) + 1
    return out


def _report_counts(text: str) -> dict[int, int]:
    rows = list(csv.reader(io.StringIO(text)))
    i = rows.index(["warning_level", "count"])
    return {int(lvl): int(n) for lvl, n in rows[i + 1:i + 4]}


def test_lists_profiles_counts_and_reports_leave_them_out_before_the_next_run(env):
    store, _keys, _cfg, _smtp, gone, client = env
    kept = _kept(store)
    still_warned = {r["subject"] for r in db.query(store, "SELECT subject FROM warning_log WHERE active = 1")}
    assert set(gone) <= still_warned, "their warnings are still stored: only the read side can leave them out"
    for user in ("counsellor", "advisor"):  # both are assigned every student of the demo school
        c = _as(client, user)
        body = c.get("/api/warnings").json()
        assert body["students"] == len(kept)
        shown = {card["student"] for card in body["warnings"]}
        assert shown and not shown & set(gone)
        for p in gone:
            assert c.get(f"/api/students/{p}").status_code == 403
            assert c.get(f"/api/students/{p}/interventions").status_code == 403
            assert p not in json.dumps(body)
    admin = _as(client, "admin")
    summary = admin.get("/api/warnings/summary").json()
    assert summary["students"] == len(kept)
    assert summary["students_with_warnings"] == len(still_warned & kept)
    assert {int(k): sum(v.values()) for k, v in summary["counts"].items()} == _level_counts(store, kept)
    # the weekly report (and its CSV export) counts warnings of the scope's enrolled, analysable students only
    enrolments = db.query(store, "SELECT e.user_pseudonym AS p, e.section_sourced_id AS s, c.course_code AS course "
                                 "FROM enrollments e JOIN sections c ON c.sourced_id = e.section_sourced_id "
                                 "WHERE e.role = 'student'")
    section = sorted({e["s"] for e in enrolments if e["p"] == gone[0]} & {e["s"] for e in enrolments if e["p"] == gone[1]})[0]
    dept = next((e["course"] or "").split("-")[0] for e in enrolments if e["s"] == section)
    scopes = {"school": {e["p"] for e in enrolments},
              f"section:{section}": {e["p"] for e in enrolments if e["s"] == section},
              f"department:{dept}": {e["p"] for e in enrolments if (e["course"] or "").split("-")[0] == dept}}
    for rscope, students in scopes.items():
        assert set(gone) <= students
        r = admin.get("/api/reports/weekly", params={"scope": rscope, "format": "csv"})
        assert r.status_code == 200, r.text
        assert _report_counts(r.text) == {lv: _level_counts(store, students & kept).get(lv, 0) for lv in (1, 2, 3)}
        assert _report_counts(r.text) != {lv: _level_counts(store, students).get(lv, 0) for lv in (1, 2, 3)}
        assert not any(p in r.text for p in gone)


def test_pending_deliveries_about_them_are_suppressed_not_sent(env):
    store, keys, cfg, smtp, gone, _client = env
    out = delivery.send_pending(store, cfg, keys, records_now(store))
    assert out["sent"] > 0 and out["suppressed"] > 0
    names = [n for n in (Contacts(store, keys).student_name(p) for p in gone) if n]
    assert smtp.mails and names
    text = "\n".join(m.subject + "\n" + m.body for m in smtp.mails)
    assert not any(p in text for p in gone) and not any(n in text for n in names)
    others = {r["subject"] for r in db.query(store, "SELECT subject FROM warning_log WHERE scope = 'student'")} - set(gone)
    assert any(p in text for p in others), "the mails do name the students they are about"
    for p in gone:
        st = {r["status"] for r in db.query(store, "SELECT d.status FROM warning_deliveries d JOIN warning_log w ON "
                                                   "w.id = d.warning_id WHERE w.subject = ?", (p,))}
        assert st == {"suppressed"}


def test_the_next_run_scores_trains_and_compares_without_them(env):
    store, keys, cfg, _smtp, gone, client = env
    now = records_now(store)
    kept = _kept(store)
    # an intervention for a kept student: the run compares its risk change with students who had none
    c = _as(client, "counsellor")
    treated = sorted(kept)[0]
    last = db.query(store, "SELECT MAX(date) AS d FROM attendance")[0]["d"]
    iv = c.post(f"/api/students/{treated}/interventions", json={"kind": "meeting", "at": last}).json()["id"]
    assert c.put(f"/api/interventions/{iv}/outcome", json={"outcome": "improved"}).status_code == 200
    model = risk.train(store, cfg, now)
    with_outcome = {r["p"] for r in db.query(store, "SELECT student_pseudonym AS p FROM student_outcomes")}
    assert set(gone) <= with_outcome and model["n_students"] == len(with_outcome & kept)
    res = engine.run(store, cfg, keys, now=now, deliver=False)
    counts = res["counts"]
    assert counts["students"] <= len(kept) and counts["opted_out"] == 60 - len(kept)
    for p in gone:
        rows = db.query(store, "SELECT active, state FROM warning_log WHERE subject = ?", (p,))
        assert rows and all(r["active"] == 0 and r["state"] == "suppressed" for r in rows)
        assert not db.query(store, "SELECT 1 FROM warning_deliveries d JOIN warning_log w ON w.id = d.warning_id "
                                   "WHERE w.subject = ? AND d.status <> 'suppressed' AND d.status <> 'pending'", (p,))
    assert counts["effects_computed"] == 1
    n_peers = json.loads(db.query(store, "SELECT comparison FROM intervention_effects")[0]["comparison"])["n"]
    assert n_peers > 0
    # the same comparison with the left students gone from the records altogether: the same peers
    excluded = [r["pseudonym"] for r in db.query(store, "SELECT pseudonym FROM users WHERE role = 'student'")
                if r["pseudonym"] not in kept]
    for p in excluded:
        db.write(store, "DELETE FROM users WHERE pseudonym = ?", (p,))
    db.write(store, "DELETE FROM intervention_effects")
    assert risk.intervention_effects(store, cfg, risk.active(store), now) == 1
    assert json.loads(db.query(store, "SELECT comparison FROM intervention_effects")[0]["comparison"])["n"] == n_peers
