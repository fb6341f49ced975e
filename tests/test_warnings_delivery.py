"""Warnings end to end on the demo school: run → e-mail (real aiosmtpd) and signed webhook (real http.server)
→ acknowledge through the dashboard's warning_actions path → the unacknowledged one escalates; class-level
attention drop to the section's teacher; failed deliveries kept and retried; opt-outs suppressed."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from classpulse_contract import Aggregate
from cloud_aggregator.config.warnings import WarningsConfig
from cloud_aggregator.records.keys import RecordsKeys
from cloud_aggregator.store import db, open_store
from cloud_aggregator.warnings import delivery, engine
from cloud_aggregator.warnings.delivery import Contacts
from cloud_aggregator.warnings.messages import say
from tests._dashboard_helpers import agg_config, copy_db, login, make_client
from tests._warnings_helpers import SmtpSink, WebhookSink

SECRET = b"webhook-secret-for-tests-0123456789"


@pytest.fixture
def env(tmpl, tmp_path):
    path = copy_db(tmpl, tmp_path / "a.db")
    s = open_store(agg_config(path, tmpl["key"]).store)
    yield s, RecordsKeys.from_text(Path(tmpl["key"]).read_text()), path
    s.close()


def config(tmp_path: Path, smtp_port: int, hook_url: str, **over) -> WarningsConfig:
    (tmp_path / "hook.secret").write_bytes(SECRET)
    return WarningsConfig.model_validate({
        "schedule": "off", "dashboard_url": "https://dash.school.example",
        "routing": [{"types": [], "min_level": 1, "roles": ["teacher"]}],
        "escalation": {"after_h": 0.5, "student_chain": ["teacher", "advisor", "counsellor"],
                       "class_chain": ["teacher", "counsellor"]},
        "delivery": {"email": {"host": "127.0.0.1", "port": smtp_port, "sender": "warnings@school.example"},
                     "webhook": {"url": hook_url, "secret_file": str(tmp_path / "hook.secret")},
                     "channels": {"teacher": ["email", "webhook"], "advisor": ["email", "webhook"],
                                  "counsellor": ["webhook"]},
                     "language": "en", "retry_base_s": 1.0},
        **over})


def records_now(store) -> datetime:
    last = db.query(store, "SELECT MAX(date) AS d FROM attendance")[0]["d"]
    return datetime.fromisoformat(last + "T12:00:00+00:00") + timedelta(days=1)


def deliveries(store, warning_id: str) -> list[dict]:
    return db.query(store, "SELECT * FROM warning_deliveries WHERE warning_id = ? ORDER BY created_at, id", (warning_id,))


def dashboard(store, tmpl, path: Path, user: str):
    _app, client = make_client(store, agg_config(path, tmpl["key"]))
    c = client()
    c.headers["X-CSRF-Token"] = login(c, user)
    return c


def test_run_delivers_by_mail_and_webhook_ack_stops_escalation_of_one(env, tmpl, tmp_path):  # noqa: PLR0915
    store, keys, path = env
    contacts = Contacts(store, keys)
    with SmtpSink() as smtp, WebhookSink() as hooks:
        cfg = config(tmp_path, smtp.port, hooks.url)
        now = records_now(store)
        res = engine.run(store, cfg, keys, now=now)
        c = res["counts"]
        assert c["new"] > 2 and c["deliveries_queued"] > 0 and c["delivered"] == {"sent": c["deliveries_queued"]}
        assert len(smtp.mails) + len(hooks.hooks) == c["deliveries_queued"]
        sent = [r for r in db.query(store, "SELECT * FROM warning_log WHERE scope = 'student' ORDER BY id")
                if any(d["channel"] == "email" for d in deliveries(store, r["id"]))]
        w1 = sent[0]
        w2 = next(w for w in sent if w["subject"] != w1["subject"])  # two students
        for w in (w1, w2):
            d = next(d for d in deliveries(store, w["id"]) if d["channel"] == "email")
            assert d["status"] == "sent" and d["role"] == "teacher" and d["step"] == 0
            teachers = {r["s"] for r in db.query(store, "SELECT DISTINCT u.sourced_id AS s FROM enrollments e JOIN users "
                                                        "u ON u.pseudonym = e.user_pseudonym WHERE e.role = 'teacher' "
                                                        "AND e.section_sourced_id = ?", (w["section_id"],))}
            assert d["recipient"] in teachers  # the course teacher of the section the warning is about
            mail = next(m for m in smtp.mails if w["id"] in m.body)
            assert mail.to == [contacts.email(d["recipient"])] and mail.to[0].endswith("@staff.demo-school.example")
            reasons = json.loads(w["reasons"])
            assert say("en", reasons[0]["key"], reasons[0]["params"]) in mail.body  # plain words, numbers in
            assert json.loads(w["intervention"])["text"] in mail.body
            assert f"https://dash.school.example/#student/{w['subject']}" in mail.body
            assert ["Watch", "Concern", "Urgent"][w["level"] - 1] in mail.subject
            name = contacts.student_name(w["subject"])
            assert name and name not in mail.body and w["subject"] in mail.body  # teachers get the pseudonym only
            hook = next(h for h in hooks.hooks if h.body["warning_id"] == w["id"])
            expected = "sha256=" + hmac.new(SECRET, hook.raw, hashlib.sha256).hexdigest()
            assert hook.headers["X-ClassPulse-Signature"] == expected
            assert hook.headers["X-ClassPulse-Delivery"] == hook.body["delivery_id"]
            assert hook.body["level"] == w["level"] and hook.body["role"] == "teacher"
            assert hook.body["student"] == {"pseudonym": w["subject"], "name": None}
            assert hook.body["reasons"][0]["text"] == say("en", reasons[0]["key"], reasons[0]["params"])
            assert hook.body["tags"] == [] or all(t["evidence"] for t in hook.body["tags"])
        # a tampered body would not verify
        assert not hmac.compare_digest(hooks.hooks[0].headers["X-ClassPulse-Signature"],
                                       "sha256=" + hmac.new(SECRET, hooks.hooks[0].raw + b" ", hashlib.sha256).hexdigest())

        # acknowledge w1 through the dashboard's existing path (counsellor), before the timeout
        counsellor = dashboard(store, tmpl, path, "counsellor")
        r = counsellor.post(f"/api/warnings/{w1['id']}/action", json={"action": "acknowledge", "note": "on it"})
        assert r.status_code == 201, r.text
        # a teacher may acknowledge only what was sent to them
        teacher = dashboard(store, tmpl, path, "teacher")
        me = next(u["staff"] for u in tmpl["users"] if u["username"] == "teacher")
        other = db.query(store, "SELECT warning_id FROM warning_deliveries WHERE warning_id NOT IN (SELECT warning_id "
                                "FROM warning_deliveries WHERE recipient = ?) LIMIT 1", (me,))
        assert teacher.post(f"/api/warnings/{other[0]['warning_id']}/action",
                            json={"action": "acknowledge"}).status_code == 403

        # not yet due: nothing escalates
        assert engine.tick(store, cfg, keys, now=now + timedelta(minutes=10))["escalated"] == 0
        n_mails, n_hooks = len(smtp.mails), len(hooks.hooks)
        out = engine.tick(store, cfg, keys, now=now + timedelta(hours=1))
        assert out["escalated"] > 0 and out["delivered"].get("sent", 0) > 0
        esc = {e["warning_id"]: e for e in db.query(store, "SELECT * FROM warning_escalations")}
        assert w1["id"] not in esc
        assert esc[w2["id"]]["from_role"] == "teacher" and esc[w2["id"]]["to_role"] == "advisor"
        assert esc[w2["id"]]["reason"] == "timeout"
        states = {r["id"]: r for r in db.query(store, "SELECT id, state, step_role FROM warning_log WHERE id IN (?, ?)",
                                               (w1["id"], w2["id"]))}
        assert states[w1["id"]]["state"] == "acknowledged" and states[w2["id"]]["step_role"] == "advisor"
        adv = next(d for d in deliveries(store, w2["id"]) if d["role"] == "advisor" and d["channel"] == "email")
        assert adv["status"] == "sent" and adv["step"] == 1
        assert adv["recipient"] in {r["s"] for r in db.query(store, "SELECT staff_sourced_id AS s FROM advisor_assignments "
                                                                  "WHERE student_pseudonym = ? AND role = 'advisor'",
                                                             (w2["subject"],))}
        mail = next(m for m in smtp.mails[n_mails:] if w2["id"] in m.body)
        assert mail.to == [contacts.email(adv["recipient"])]
        assert contacts.student_name(w2["subject"]) in mail.body  # advisors see names (as in the dashboard)
        assert "escalated to you" in mail.body
        assert not any(w1["id"] in m.body for m in smtp.mails[n_mails:])
        hook = next(h for h in hooks.hooks[n_hooks:] if h.body["warning_id"] == w2["id"])
        assert hook.body["role"] == "advisor" and hook.body["escalation_step"] == 1
        # the next step (counsellor, webhook only) follows after another timeout; then the chain is exhausted
        engine.tick(store, cfg, keys, now=now + timedelta(hours=2))
        assert any(h.body["warning_id"] == w2["id"] and h.body["role"] == "counsellor" for h in hooks.hooks)
        engine.tick(store, cfg, keys, now=now + timedelta(hours=3))
        assert db.query(store, "SELECT state FROM warning_log WHERE id = ?", (w2["id"],))[0]["state"] == "exhausted"


def _windows(section: str, day: datetime, attention: float, n: int, msg0: int) -> list[Aggregate]:
    out = []
    for i in range(n):
        ws = day + timedelta(minutes=i)
        out.append(Aggregate(msg_id=msg0 + i, site="north", room="r101", device="synthetic", window_start=ws,
                             window_end=ws + timedelta(seconds=60), policy="no-emotion", k_anonymity=5, n_faces=25,
                             attention_share=attention, hand_raises=2, speech_share=0.5, engagement=0.6))
    return out


def test_class_attention_drop_is_routed_to_the_sections_teacher(env, tmpl, tmp_path):
    store, keys, path = env
    teacher = next(u for u in tmpl["users"] if u["username"] == "teacher")
    control = next(u["section"] for u in tmpl["users"] if u["username"] == "teacher2")
    store.db.execute("DELETE FROM aggregates")
    store.db.commit()
    now = datetime.now(timezone.utc).replace(hour=12, minute=0, second=0, microsecond=0)
    msg = 1
    for back in range(13, 0, -1):  # 10 usual class days at ~0.72, then 3 days at ~0.40 (sustained)
        day = (now - timedelta(days=back)).replace(hour=2)
        for sec, att in ((teacher["section"], 0.72 if back > 3 else 0.40 + 0.01 * back), (control, 0.72)):
            rows = _windows(sec, day, att, 8, msg)
            msg += len(rows)
            store.write_batch([(a, now.isoformat()) for a in rows],
                              sessions=[(sec, f"{sec}:{day.date()}:p1")] * len(rows))
    with SmtpSink() as smtp, WebhookSink() as hooks:
        cfg = config(tmp_path, smtp.port, hooks.url)
        res = engine.run(store, cfg, keys, now=now)
    assert "aggregates" not in res["stale_sources"] and "attendance" in res["stale_sources"]  # old demo records
    cls = db.query(store, "SELECT * FROM warning_log WHERE scope = 'section'")
    assert [(r["subject"], r["type"]) for r in cls] == [(teacher["section"], "class_attention")]
    w = cls[0]
    assert w["level"] == 3 and w["stale"] == 0 and not json.loads(w["tags"])
    reason = json.loads(w["reasons"])[0]
    assert reason["key"] == "reason.class_attention" and reason["params"]["usual"] == 72
    assert reason["params"]["recent"] == 42 and reason["params"]["days"] == 3
    ds = deliveries(store, w["id"])
    assert {(d["role"], d["recipient"], d["status"]) for d in ds} == {("teacher", teacher["staff"], "sent")}
    mail = next(m for m in smtp.mails if w["id"] in m.body)
    assert mail.to == [Contacts(store, keys).email(teacher["staff"])] and "Class attention" in mail.subject
    assert "p_" not in mail.body  # a class warning names no student
    hook = next(h for h in hooks.hooks if h.body["warning_id"] == w["id"])
    assert hook.body["section"] == teacher["section"] and "student" not in hook.body
    # the section's teacher acknowledges it in the dashboard; a counsellor may not
    assert dashboard(store, tmpl, path, "counsellor").post(f"/api/warnings/{w['id']}/action",
                                                          json={"action": "acknowledge"}).status_code == 403
    t = dashboard(store, tmpl, path, "teacher")
    assert t.get("/api/warnings/classes").json()["warnings"][0]["id"] == w["id"]
    assert t.post(f"/api/warnings/{w['id']}/action", json={"action": "acknowledge"}).status_code == 201
    engine.escalate(store, cfg, now + timedelta(hours=5))
    assert db.query(store, "SELECT state FROM warning_log WHERE id = ?", (w["id"],))[0]["state"] == "acknowledged"


def test_failed_deliveries_are_kept_and_retried(env, tmp_path):
    store, keys, _ = env
    with WebhookSink(fail_first=10_000) as hooks:
        cfg = config(tmp_path, 1, hooks.url, delivery={
            "webhook": {"url": hooks.url, "secret_file": str(tmp_path / "hook.secret")},
            "channels": {"teacher": ["webhook"]}, "retry_base_s": 1.0, "max_attempts": 2, "language": "en"})
        (tmp_path / "hook.secret").write_bytes(SECRET)
        now = records_now(store)
        res = engine.run(store, cfg, keys, now=now)
        n = res["counts"]["deliveries_queued"]
        assert n > 0 and res["counts"]["delivered"] == {"retry": n} and hooks.hooks == []
        rows = db.query(store, "SELECT * FROM warning_deliveries")
        assert all(r["status"] == "pending" and r["attempts"] == 1 and "500" in r["last_error"] for r in rows)
        assert delivery.send_pending(store, cfg, keys, now) == {}  # backing off: not due yet
        assert delivery.send_pending(store, cfg, keys, now + timedelta(seconds=2)) == {"failed": n}
        assert db.query(store, "SELECT COUNT(*) AS n FROM warning_deliveries WHERE status = 'failed'")[0]["n"] == n
        hooks.fail_first = 0  # the receiver is back: failed rows are retried on request, none was lost
        assert delivery.send_pending(store, cfg, keys, now + timedelta(hours=1)) == {}
        assert delivery.send_pending(store, cfg, keys, now + timedelta(hours=1), retry_failed=True) == {"sent": n}
        assert len({h.body["delivery_id"] for h in hooks.hooks}) == n


def test_opted_out_student_gets_no_delivery(env, tmp_path):
    store, keys, _ = env
    with SmtpSink() as smtp, WebhookSink() as hooks:
        cfg = config(tmp_path, smtp.port, hooks.url)
        engine.run(store, cfg, keys, now=records_now(store), deliver=False)
        p = db.query(store, "SELECT w.subject AS p FROM warning_log w JOIN warning_deliveries d ON d.warning_id = w.id "
                            "ORDER BY w.id LIMIT 1")[0]["p"]
        db.write(store, "UPDATE users SET opt_out = 1 WHERE pseudonym = ?", (p,))
        out = delivery.send_pending(store, cfg, keys, records_now(store))
        assert out["suppressed"] >= 1 and out["sent"] > 0
        assert not any(p in m.body for m in smtp.mails) and not any(p in h.raw.decode() for h in hooks.hooks)
        assert {r["status"] for r in db.query(store, "SELECT d.status FROM warning_deliveries d JOIN warning_log w ON "
                                                     "w.id = d.warning_id WHERE w.subject = ?", (p,))} == {"suppressed"}


def test_parents_only_when_allowed(env, tmp_path):
    from cloud_aggregator.store.records_tables import USERS
    from cloud_aggregator.warnings import routing

    store, keys, _ = env
    with SmtpSink() as smtp, WebhookSink() as hooks:
        base = config(tmp_path, smtp.port, hooks.url)
        now = records_now(store)
        engine.run(store, base, keys, now=now, deliver=False)
        p = db.query(store, "SELECT subject FROM warning_log WHERE scope = 'student' ORDER BY id LIMIT 1")[0]["subject"]
        db.insert(store, USERS, [{"sourced_id": "grd-0001", "pseudonym": keys.pseudonym("grd-0001"), "role": "guardian",
                                  "enabled": 1, "org_sourced_ids": "org-north", "grades": "", "agent_sourced_ids": "",
                                  "name_enc": keys.encrypt({"given": "Parent"}),
                                  "contact_enc": keys.encrypt({"email": "parent@home.example"}), "opt_out": 0,
                                  "row_hash": None, "import_run": None}])
        db.write(store, "UPDATE users SET agent_sourced_ids = ? WHERE pseudonym = ?", ("grd-0001", p))
        # by default parents are nobody's recipients, even when asked for directly
        assert routing.resolve(store, base, "parent", "student", p, None) == []
        assert not db.query(store, "SELECT 1 FROM warning_deliveries WHERE role = 'parent'")
        allowed = config(tmp_path, smtp.port, hooks.url, allow_parents=True,
                         routing=[{"min_level": 1, "roles": ["parent"]}])
        allowed.delivery.channels["parent"] = ["email"]
        assert routing.resolve(store, allowed, "parent", "student", p, None) == [routing.Recipient("parent", "grd-0001")]
        db.write(store, "DELETE FROM warning_log")
        db.write(store, "DELETE FROM warning_deliveries")
        engine.run(store, allowed, keys, now=now)
        to_parent = [m for m in smtp.mails if m.to == ["parent@home.example"]]
        assert to_parent and all(p in m.body for m in to_parent)
        assert Contacts(store, keys).student_name(p) in to_parent[0].body  # parents see their child's name
        assert {r["recipient"] for r in db.query(store, "SELECT recipient FROM warning_deliveries")} == {"grd-0001"}


def test_smtp_down_keeps_mail_pending(env, tmp_path):
    from tests._broker import free_port

    store, keys, _ = env
    with WebhookSink() as hooks:
        cfg = config(tmp_path, free_port(), hooks.url)  # nothing listens on that port
        res = engine.run(store, cfg, keys, now=records_now(store))
    mail = db.query(store, "SELECT status, attempts, last_error FROM warning_deliveries WHERE channel = 'email'")
    assert mail and all(r["status"] == "pending" and r["attempts"] == 1 and "Connection" in r["last_error"] for r in mail)
    assert res["counts"]["delivered"]["retry"] == len(mail) and res["counts"]["delivered"]["sent"] == len(hooks.hooks)
