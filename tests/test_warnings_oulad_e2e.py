"""Warnings end to end on real data (issue #9): OULAD module AAA 2013J through the records store, the generated
staff roster (OneRoster), ``warnings train`` and ``warnings run --as-of`` day 60 (the CLI), e-mail to a real SMTP
server (aiosmtpd), an intervention recorded and followed up in the dashboard, and a later run that computes its
effect on risk. AAA exists in one presentation only, so the model is trained on the same students it scores
(labels from their final_result): this checks the loop, not predictive validity (bench/warnings_oulad_e2e.py)."""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from cloud_aggregator.config.store import StoreConfig
from cloud_aggregator.config.warnings import WarningsConfig
from cloud_aggregator.records import import_records
from cloud_aggregator.records.keys import ensure_key_file
from cloud_aggregator.records.oulad import day_to_date
from cloud_aggregator.records.oulad_staff import (
    COUNSELLOR_EMAIL,
    COUNSELLOR_ID,
    USERS_HEAD,
    tutor_email,
    tutor_id,
    write_staff_roster,
)
from cloud_aggregator.store import db, open_store
from cloud_aggregator.warnings import routing
from cloud_aggregator.warnings.messages import say
from cloud_aggregator.warnings.student_rules import indicators, iso_week, rule_warnings
from cloud_aggregator.web import auth
from tests._dashboard_helpers import make_client
from tests._records_helpers import fixed_key_file
from tests._warnings_helpers import SmtpSink
from tests.test_records_oulad import _subset

DAY60 = day_to_date("2013J", 60)  # 2013-11-30
LATER = day_to_date("2013J", 90)  # 30 days on: the 2- and 4-week follow-ups (day 74, 88) are in the records
TUTOR = tutor_id("AAA", "2013J")
ROUTING = [{"types": ["academic", "submissions"], "min_level": 1, "roles": ["teacher"]},
           {"types": ["risk"], "min_level": 1, "roles": ["teacher"]},
           {"types": ["risk"], "min_level": 2, "roles": ["advisor"]},
           {"types": [], "min_level": 3, "roles": ["counsellor"]}]


def _config(tmp: Path, store_path: Path, key: Path, smtp_port: int) -> tuple[Path, WarningsConfig]:
    warnings = {"schedule": "off", "dashboard_url": "https://dash.oulad.example",
                "freshness": {"not_collected": ["attendance", "lms", "aggregates"]},
                "risk": {"kind": "lightgbm", "model_dir": str(tmp / "models"), "drift": {"on_drift": "recommend"}},
                "routing": ROUTING,
                "delivery": {"email": {"host": "127.0.0.1", "port": smtp_port, "sender": "warnings@oulad.example"},
                             "channels": {"teacher": ["email"], "advisor": ["email"], "counsellor": ["email"]},
                             "language": "en"}}
    path = tmp / "agg.yaml"
    path.write_text(json.dumps({"store": {"backend": "sqlite", "path": str(store_path)},
                                "records": {"key_file": str(key)}, "warnings": warnings}))  # JSON is YAML
    return path, WarningsConfig.model_validate(warnings)


def _opt_out(folder: Path, sourced_id: str) -> Path:
    """The school's way: a OneRoster users.csv row with metadata.classpulse.optOut=true."""
    folder.mkdir()
    with (folder / "users.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow([*USERS_HEAD, "metadata.classpulse.optOut"])
        w.writerow([sourced_id, "active", "", "true", "oulad", "student", "s1", "", "Opted", "Out", *[""] * 8, "true"])
    return folder


def _cli(capsys, *argv: str) -> dict:
    from cloud_aggregator.cli import main

    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_oulad_warnings_loop_end_to_end(shared_data, tmp_path, capsys):  # noqa: PLR0915
    sub = _subset(shared_data / "oulad", tmp_path / "aaa")
    key = fixed_key_file(tmp_path / "records.key")
    keys = ensure_key_file(key)
    store = open_store(StoreConfig(path=tmp_path / "o.db"))
    try:
        assert import_records(store, sub, "oulad", keys=keys, progress=False).ok
        staff = import_records(store, write_staff_roster(sub, tmp_path / "staff"), "oneroster", keys=keys,
                               progress=False)
        assert staff.ok and not staff.rejected, staff.summary()
        # two students who missed the TMA due on day 54 and were still registered on day 60: one opts out
        missed = [r["p"] for r in db.query(
            store, "SELECT s.student_pseudonym AS p FROM submissions s JOIN enrollments e ON e.user_pseudonym = "
                   "s.student_pseudonym WHERE s.status = 'missing' AND s.due_at LIKE ? AND (e.end_date IS NULL OR "
                   "e.end_date > ?) ORDER BY p", (day_to_date("2013J", 54) + "%", DAY60))]
        assert len(missed) >= 2
        opted, control = missed[0], missed[1]
        opted_sid = db.query(store, "SELECT sourced_id FROM users WHERE pseudonym = ?", (opted,))[0]["sourced_id"]
        assert import_records(store, _opt_out(tmp_path / "optout", opted_sid), "oneroster", keys=keys,
                              progress=False).ok
        left = {r["p"] for r in db.query(store, "SELECT user_pseudonym AS p FROM enrollments WHERE role = 'student' "
                                                "AND end_date < ?", (DAY60,))}
        assert left  # withdrew before day 60: no longer a student to warn

        with SmtpSink() as smtp:
            cfg_path, cfg = _config(tmp_path, tmp_path / "o.db", key, smtp.port)
            # --until DAY60 would learn from nothing: AAA's outcomes are only known at the presentation's end
            # (withdrawals aside), and a label must have been known by then. So the whole presentation is used
            with pytest.raises(AssertionError):
                _cli(capsys, "warnings", "train", "--config", str(cfg_path), "--as-of", DAY60, "--until", DAY60)
            assert "students with a known outcome" in capsys.readouterr().err
            model = _cli(capsys, "warnings", "train", "--config", str(cfg_path), "--as-of", DAY60)
            assert model["window_end"] > DAY60 and model["metrics"]["auc"] > 0.6
            run = _cli(capsys, "warnings", "run", "--config", str(cfg_path), "--as-of", DAY60)
            c = run["counts"]
            assert run["version"].endswith(model["version"]) and run["stale_sources"] == []
            assert c["new"] > 20 and {"risk", "submissions", "academic"} <= set(c["by_type"])
            assert c.get("no_recipient", 0) == 0 and c["delivered"] == {"sent": c["deliveries_queued"]}
            assert len(smtp.mails) == c["deliveries_queued"] > 0
            # trained on the whole presentation, compared at the same week of the term (day 60): no drift
            assert c["drift"]["flagged"] == 0 and c["drift"]["baseline"] == {"term_weeks": {"8": 1.0}}

            ws = db.query(store, "SELECT * FROM warning_log WHERE active = 1 AND scope = 'student'")
            subjects = {w["subject"] for w in ws}
            assert opted not in subjects and control in subjects and not subjects & left
            assert not [m for m in smtp.mails if opted in m.body]
            # rule levels are exactly the configured tiers over the day-60 indicators
            inds = indicators(store, sorted(subjects), DAY60, cfg.students.recent_days)
            expect = {w.id: w.level for p in subjects for w in rule_warnings(inds[p], iso_week(DAY60), cfg.students)}
            for w in ws:
                reasons, tags = json.loads(w["reasons"]), json.loads(w["tags"])
                if w["type"] == "risk":
                    p = reasons[0]["params"]["score"] / 100
                    assert any(cfg.risk.levels.level(x) == w["level"] for x in (p - 0.005, p, p + 0.005))
                else:
                    assert expect[w["id"]] == w["level"]
                texts = [say("en", r["key"], r["params"]) for r in reasons]  # plain words with their numbers,
                assert texts and all(t != r["key"] and not {"{", "–"} & set(t) for t, r in zip(texts, reasons,
                                                                                            strict=True))
                for t in tags:  # a tag always carries the numbers behind it
                    assert t["evidence"] and "{" not in say("en", t["evidence_key"], t["evidence"])
                if w["type"] == "submissions":
                    assert "missing_submissions" in {t["id"] for t in tags}
                # routed to exactly the roles the routing gives, each to the right person, and e-mailed
                roles = routing.initial_roles(cfg, w["type"], w["level"])
                ds = db.query(store, "SELECT * FROM warning_deliveries WHERE warning_id = ?", (w["id"],))
                assert sorted(d["role"] for d in ds) == sorted(roles) and all(d["status"] == "sent" for d in ds)
                for d in ds:
                    assert d["recipient"] == {"teacher": TUTOR, "advisor": TUTOR, "counsellor": COUNSELLOR_ID}[d["role"]]
                    to = {"counsellor": COUNSELLOR_EMAIL}.get(d["role"], tutor_email("AAA", "2013J"))
                    assert any(m.to == [to] and w["id"] in m.body for m in smtp.mails)
            assert any(t for w in ws for t in json.loads(w["tags"]))
            red = next(w for w in ws if w["type"] == "risk" and w["level"] == 3)

            # the counsellor records an intervention for a red warning (who/what/when), then its outcome
            auth.create_user(store, "oulad-counsellor", "counsellor-pass-1", "counsellor", staff_sourced_id=COUNSELLOR_ID,
                             scrypt_n=2**10)
            _app, client = make_client(store, _agg(cfg_path))
            cl = client()
            r = cl.post("/api/login", json={"username": "oulad-counsellor", "password": "counsellor-pass-1"})
            cl.headers["X-CSRF-Token"] = r.json()["csrf"]
            p = red["subject"]
            future = (date.today() + timedelta(days=2)).isoformat()
            assert cl.post(f"/api/students/{p}/interventions", json={"kind": "tutoring", "at": future}).status_code == 422
            r = cl.post(f"/api/students/{p}/interventions", json={"kind": "tutoring", "note": "weekly TMA clinic",
                                                                   "warning_id": red["id"], "at": DAY60})
            assert r.status_code == 201, r.text
            iid = r.json()["id"]
            assert cl.put(f"/api/interventions/{iid}/outcome", json={"outcome": "improved"}).status_code == 200
            (iv,) = cl.get(f"/api/students/{p}/interventions").json()
            assert (iv["by"], iv["kind"], iv["created_at"][:10], iv["outcome"]) == ("oulad-counsellor", "tutoring",
                                                                                   DAY60, "improved")
            assert iv["note"] == "weekly TMA clinic" and iv["effect"] is None

            # escalation: the counsellor acknowledges one tutor-only warning; 49 h on the others go up the chain
            tutor_only = [w for w in ws if routing.initial_roles(cfg, w["type"], w["level"]) == ["teacher"]]
            ack, other = tutor_only[0], tutor_only[1]
            assert cl.post(f"/api/warnings/{ack['id']}/action", json={"action": "acknowledge"}).status_code == 201
            n_mails = len(smtp.mails)
            tick = _cli(capsys, "warnings", "deliver", "--config", str(cfg_path), "--as-of", day_to_date("2013J", 62)
                        + "T13:00:00Z")
            esc = {e["warning_id"]: e for e in db.query(store, "SELECT * FROM warning_escalations")}
            assert tick["escalated"] == len(esc) > 0 and ack["id"] not in esc
            assert (esc[other["id"]]["from_role"], esc[other["id"]]["to_role"]) == ("teacher", "advisor")
            assert tick["delivered"]["sent"] == len(smtp.mails) - n_mails > 0  # the advisor (tutor) is told

            # a run 30 days on computes its effect on risk: day 60 vs 2 and 4 weeks later, vs comparable students
            later = _cli(capsys, "warnings", "run", "--config", str(cfg_path), "--as-of", LATER)
            assert later["counts"]["effects_computed"] == 1
            (iv,) = cl.get(f"/api/students/{p}/interventions").json()
            e = iv["effect"]
            assert e["at_date"] == DAY60 and e["score_before"] >= cfg.risk.levels.urgent - 0.005
            assert e["score_2w"] is not None and e["score_4w"] is not None
            assert e["change_4w"] == pytest.approx(e["score_4w"] - e["score_before"], abs=1e-3)
            assert e["comparison"]["n"] >= 1 and e["comparison_change_4w"] is not None
            summary = cl.get("/api/interventions/effects").json()
            assert summary["by_kind"]["tutoring"]["n_4w"] == 1
            assert not [m for m in smtp.mails if opted in m.body]
    finally:
        store.close()


def _agg(path: Path):  # noqa: ANN202
    from cloud_aggregator.config import load_aggregator_config

    cfg = load_aggregator_config(str(path))
    return cfg.model_copy(update={"dashboard": cfg.dashboard.model_copy(update={"report_schedule": "off"})})
