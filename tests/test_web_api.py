"""Dashboard API over a real (SQLite) store holding the small demo school: auth, scopes, audit, workspace, reports."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timedelta, timezone

import pytest

from cloud_aggregator.store import open_store
from tests._dashboard_helpers import PASSWORDS, agg_config, copy_db, login, make_client, run_warnings


@pytest.fixture
def dash(tmpl, tmp_path):
    cfg = agg_config(copy_db(tmpl, tmp_path / "a.db"), tmpl["key"])
    store = open_store(cfg.store)
    run_warnings(store)  # the dashboard shows what the engine's run stored
    app, client = make_client(store, cfg)
    yield store, app, client, tmpl
    store.close()


def test_login_sets_strict_httponly_cookie_and_returns_csrf(dash):
    _, _, client, _ = dash
    c = client()
    r = c.post("/api/login", json={"username": "teacher", "password": PASSWORDS["teacher"]})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=" in cookie
    assert len(r.json()["csrf"]) >= 20
    assert r.json()["user"] == {"username": "teacher", "role": "teacher", "display_name": r.json()["user"]["display_name"],
                                "language": "zh-CN"}
    assert c.get("/api/me").json()["csrf"] == r.json()["csrf"]


def test_wrong_password_401_then_throttled_429(dash):
    _, _, client, _ = dash
    c = client()
    for _ in range(5):
        assert c.post("/api/login", json={"username": "teacher", "password": "nope"}).status_code == 401
    r = c.post("/api/login", json={"username": "teacher", "password": PASSWORDS["teacher"]})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    # unknown users are throttled the same way (no enumeration)
    for _ in range(5):
        c.post("/api/login", json={"username": "ghost", "password": "nope"})
    assert c.post("/api/login", json={"username": "ghost", "password": "x"}).status_code == 429


def test_state_changes_need_csrf_and_same_origin(dash):
    _, _, client, _ = dash
    c = client()
    csrf = login(c, "teacher")
    body = {"language": "en"}
    assert c.put("/api/me/language", json=body).status_code == 403
    assert c.put("/api/me/language", json=body, headers={"X-CSRF-Token": "wrong"}).status_code == 403
    assert c.put("/api/me/language", json=body, headers={"X-CSRF-Token": csrf, "Origin": "http://evil.test"}
                 ).status_code == 403
    assert c.put("/api/me/language", json=body, headers={"X-CSRF-Token": csrf, "Origin": "http://dash.test"}
                 ).status_code == 200
    assert c.get("/api/me").json()["user"]["language"] == "en"


def test_logout_ends_the_session(dash):
    _, _, client, _ = dash
    c = client()
    csrf = login(c, "it")
    assert c.get("/api/fleet").status_code == 200
    assert c.post("/api/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    c.cookies.clear()
    assert c.get("/api/fleet").status_code == 401


def test_expired_and_idle_sessions_are_refused(dash):
    store, _, client, _ = dash
    c = client()
    login(c, "it")
    past = (datetime.now(timezone.utc) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    store.db.execute("UPDATE web_sessions SET expires_at = ?", (past,))
    store.db.commit()
    assert c.get("/api/fleet").status_code == 401
    login(c, "it")
    old = (datetime.now(timezone.utc) - timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    store.db.execute("UPDATE web_sessions SET last_seen = ?", (old,))
    store.db.commit()
    assert c.get("/api/fleet").status_code == 401


def test_passwords_are_scrypt_hashed(dash):
    store, *_ = dash
    rows = store.db.query("SELECT username, pw_hash FROM web_users")
    assert rows and all(r["pw_hash"].startswith("scrypt$") for r in rows)
    assert not any(PASSWORDS[r["username"]] in r["pw_hash"] for r in rows)


def test_teacher_sees_own_sections_only(dash):
    _, _, client, tmpl = dash
    own = next(u["section"] for u in tmpl["users"] if u["username"] == "teacher")
    other = next(u["section"] for u in tmpl["users"] if u["username"] == "teacher2")
    c = client()
    login(c, "teacher")
    assert own in c.get("/api/sections").json()
    assert other not in c.get("/api/sections").json()
    assert c.get(f"/api/sections/{own}/live").status_code == 200
    assert c.get(f"/api/sections/{other}/live").status_code == 403
    assert c.get(f"/api/sections/{other}/assistant").status_code == 403
    assert c.get("/api/reports/weekly", params={"scope": f"section:{other}"}).status_code == 403
    live = c.get("/api/live").json()
    assert live["lesson"]["section_id"] == own  # the demo lesson runs all day in the teacher's room
    assert live["state"] == "offline"  # no device has reported in this test
    assert live["usual"]["n_sessions"] == 6


def test_counsellor_warnings_names_profile_and_audit(dash):
    store, _, client, _ = dash
    c = client()
    login(c, "counsellor")
    r = c.get("/api/warnings").json()
    assert r["students"] > 0 and r["warnings"], "the demo school's drifting students should raise warnings"
    w = r["warnings"][0]
    assert w["level"] in (1, 2, 3) and w["rules"][0]["reasons"][0]["key"].startswith("reason.") and w["name"]["family"]
    assert all(x["level"] == 3 for x in c.get("/api/warnings", params={"level": 3}).json()["warnings"])
    prof = c.get(f"/api/students/{w['student']}").json()
    assert set(prof["radar"]) == {"academic", "attendance", "submissions", "lms", "class_engagement"}
    assert prof["trends"] and prof["card"]["ids"] == w["ids"]
    audit = store.db.query("SELECT action, student_pseudonym, username FROM audit_log WHERE student_pseudonym = ?",
                           (w["student"],))
    assert {"view_warnings", "view_profile"} <= {a["action"] for a in audit}
    assert {a["username"] for a in audit} == {"counsellor"}


def test_counsellor_refused_unassigned_student(dash):
    store, _, client, _ = dash
    c = client()
    csrf = login(c, "counsellor")
    store.db.execute("DELETE FROM advisor_assignments WHERE staff_sourced_id = ? AND student_pseudonym = "
                     "(SELECT MIN(student_pseudonym) FROM advisor_assignments)", ("cou-north",))
    store.db.commit()
    gone = store.db.query("SELECT MIN(student_pseudonym) AS p FROM advisor_assignments")[0]["p"]
    unassigned = store.db.query("SELECT pseudonym FROM users WHERE role = 'student' AND pseudonym NOT IN "
                                "(SELECT student_pseudonym FROM advisor_assignments WHERE staff_sourced_id = "
                                "'cou-north')")[0]["pseudonym"]
    assert gone is not None
    assert c.get(f"/api/students/{unassigned}").status_code == 403
    assert c.post(f"/api/students/{unassigned}/interventions", json={"kind": "meeting"},
                  headers={"X-CSRF-Token": csrf}).status_code == 403
    assert c.post(f"/api/warnings/{unassigned}:attendance:2025-W40/action", json={"action": "acknowledge"},
                  headers={"X-CSRF-Token": csrf}).status_code == 403


def test_intervention_recorded_encrypted_with_outcome_and_warning_actions(dash):
    store, _, client, _ = dash
    c = client()
    csrf = login(c, "counsellor")
    w = c.get("/api/warnings").json()["warnings"][0]
    h = {"X-CSRF-Token": csrf}
    r = c.post(f"/api/students/{w['student']}/interventions", headers=h,
               json={"kind": "meeting", "note": "talked about homework plan", "warning_id": w["id"]})
    assert r.status_code == 201
    iid = r.json()["id"]
    raw = store.db.query("SELECT note_enc FROM interventions WHERE id = ?", (iid,))[0]["note_enc"]
    assert "homework" not in raw  # encrypted at rest with the records key
    assert c.put(f"/api/interventions/{iid}/outcome", headers=h, json={"outcome": "improved", "note": "better"}
                 ).status_code == 200
    ivs = c.get(f"/api/students/{w['student']}/interventions").json()
    assert ivs[0]["note"] == "talked about homework plan" and ivs[0]["outcome"] == "improved"
    assert c.post(f"/api/warnings/{w['id']}/action", headers=h, json={"action": "escalate"}).status_code == 201
    again = {x["id"]: x for x in c.get("/api/warnings").json()["warnings"]}
    assert again[w["id"]]["state"] == "escalate" and again[w["id"]]["by"] == "counsellor"


def test_teacher_report_pdf_and_csv(dash):
    _, _, client, tmpl = dash
    own = next(u["section"] for u in tmpl["users"] if u["username"] == "teacher")
    c = client()
    login(c, "teacher")
    week = (datetime.now(timezone.utc) - timedelta(days=3)).date().isoformat()
    r = c.get("/api/reports/weekly", params={"scope": f"section:{own}", "week": week, "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert own in r.text and "warning_level" not in r.text  # teachers get no warning counts
    r = c.get("/api/reports/weekly", params={"scope": f"section:{own}", "week": week, "format": "pdf", "lang": "en"})
    assert r.status_code == 200 and r.content[:5] == b"%PDF-" and len(r.content) > 10_000


def test_admin_school_report_has_warning_counts_and_no_names(dash):
    store, _, client, _ = dash
    c = client()
    login(c, "admin")
    r = c.get("/api/reports/weekly", params={"scope": "school", "format": "csv"})
    assert r.status_code == 200 and "warning_level" in r.text
    names = store.db.query("SELECT pseudonym FROM users WHERE role = 'student' LIMIT 5")
    assert not any(n["pseudonym"] in r.text for n in names)
    s = c.get("/api/warnings/summary").json()
    assert s["students"] > 0 and set(s["counts"]) <= {"1", "2", "3"}
    assert c.get("/api/warnings").status_code == 403  # aggregate views only


def test_it_issues_enrolment_token_redeemable_once(dash):
    store, _, client, _ = dash
    c = client()
    csrf = login(c, "it")
    r = c.post("/api/fleet/tokens", headers={"X-CSRF-Token": csrf},
               json={"site": "north", "room": "r103", "device": "cp-north-r103"})
    assert r.status_code == 201
    tok = r.json()["token"]
    enr = store.redeem_token(tok)
    assert enr.device == "cp-north-r103"
    assert any(d["device"] == "cp-north-r103" for d in c.get("/api/fleet").json()["devices"])
    assert store.db.query("SELECT action FROM audit_log WHERE action = 'issue_enrolment_token'")


def test_assistant_feedback_stored_and_summarised(dash):
    _, _, client, tmpl = dash
    own = next(u["section"] for u in tmpl["users"] if u["username"] == "teacher")
    c = client()
    csrf = login(c, "teacher")
    body = {"section_id": own, "session_id": f"{own}:2026-01-01:1", "suggestion_id": "x", "rule_id": "attention_drop",
            "verdict": "useful", "value": 0.4, "usual": 0.7}
    assert c.post("/api/assistant/feedback", json=body, headers={"X-CSRF-Token": csrf}).status_code == 201
    a = client()
    login(a, "admin")
    assert {"rule_id": "attention_drop", "verdict": "useful", "n": 1} in a.get("/api/assistant/feedback/summary").json()


def test_static_assets_manifest_and_security_headers(dash):
    _, _, client, _ = dash
    c = client()
    r = c.get("/")
    assert r.status_code == 200 and "/static/js/app.js" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    m = c.get("/manifest.webmanifest")
    assert m.headers["content-type"].startswith("application/manifest+json")
    icons = m.json()["icons"]
    for icon in icons:
        assert c.get(icon["src"]).status_code == 200
    assert c.get("/static/js/teacher.js").headers["content-type"].startswith("text/javascript")
    assert c.get("/static/../app.py").status_code == 404
    assert c.get("/static/.hidden.js").status_code == 404
    for path in ("/static/index.html", "/static/js/app.js", "/sw.js"):
        assert "http://" not in c.get(path).text and "https://" not in c.get(path).text  # no CDN


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils not installed")
def test_report_pdf_speaks_the_users_language(dash, tmp_path):
    _, _, client, _ = dash
    c = client()
    login(c, "admin")  # demo users default to zh-CN
    pdf = c.get("/api/reports/weekly", params={"scope": "school"}).content
    (tmp_path / "r.pdf").write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(tmp_path / "r.pdf"), "-"], capture_output=True, text=True, check=True).stdout
    assert "每周报告" in text and "班级" in text
