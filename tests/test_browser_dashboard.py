"""The dashboard in real headless Chromium against a real aggregator and a real mosquitto.

Per role: log in, see what the role may see (a live window published to the broker appears
without reload), be refused the rest (401 without login, 403 across sections), record an
intervention, download reports, watch the fleet. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from tests._broker import start_mosquitto
from tests._dashboard_helpers import (
    BROWSER_MARKS,
    CHROMIUM,
    CHROMIUM_ARGS,
    DashServer,
    aggregate,
    copy_db,
    publish,
    publisher,
    run_warnings,
    template_db,
    ui_login,
)

pytestmark = BROWSER_MARKS
TABLET = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def env(tmp_path_factory, repo_root):
    from playwright.sync_api import sync_playwright

    tmp = tmp_path_factory.mktemp("browser")
    tmpl = template_db(tmp_path_factory.getbasetemp() / "dash-template")
    broker = start_mosquitto(tmp / "broker")
    srv = DashServer(copy_db(tmpl, tmp / "a.db"), tmpl["key"], broker.port).start()
    run_warnings(srv.store)  # the counsellor's list is what a run stored
    pub = publisher(broker.port)
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    art = repo_root / "test-artifacts"
    art.mkdir(exist_ok=True)
    try:
        yield {"srv": srv, "pub": pub, "browser": browser, "tmpl": tmpl, "art": art}
    finally:
        browser.close()
        pw.stop()
        pub.loop_stop()
        pub.disconnect()
        srv.stop()
        broker.stop()


def _login(env, user: str, viewport=TABLET):
    return ui_login(env["browser"], env["srv"].url, user, viewport, accept_downloads=True)


def _section(env, user: str) -> str:
    return next(u["section"] for u in env["tmpl"]["users"] if u["username"] == user)


def test_everything_refused_without_login(env):
    ctx = env["browser"].new_context()
    page = ctx.new_page()
    page.goto(env["srv"].url + "/")
    page.wait_for_selector("#login-form", state="visible")  # shown once /api/me answered 401
    for path in ("/api/live", "/api/warnings", "/api/fleet", "/api/events", "/api/reports/scopes", "/api/me"):
        assert page.request.get(env["srv"].url + path).status == 401, path
    bad = page.request.post(env["srv"].url + "/api/login", data={"username": "teacher", "password": "wrong-pass"})
    assert bad.status == 401
    ctx.close()


def test_teacher_sees_live_update_from_the_broker_and_is_refused_other_section(env):
    ctx, page, errors = _login(env, "teacher")
    page.wait_for_selector(".live[data-state]")
    page.wait_for_selector("#conn.on", timeout=10_000)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    msg = aggregate("north", "r101", "cp-north-r101", 5001, start=now - timedelta(seconds=40), attention_share=0.74)
    publish(env["pub"], msg)
    page.wait_for_selector('.live[data-last-msg="5001"]', timeout=10_000)
    assert page.get_attribute(".live", "data-state") == "live"
    assert page.inner_text('[data-k="attention"]') == "74%"
    assert page.inner_text('[data-k="faces"]') == "23"
    assert page.get_attribute('rect[data-zone="r0c1"]', "data-blank") == "1"  # 3 faces < k: blank
    assert page.get_attribute('rect[data-zone="r0c0"]', "data-blank") == "0"
    page.screenshot(path=str(env["art"] / "teacher_live_tablet.png"))
    # another teacher's room: published, but never reaches this page
    publish(env["pub"], aggregate("north", "r102", "cp-north-r102", 5002, start=now - timedelta(seconds=40)))
    other = _section(env, "teacher2")
    status = page.evaluate("async (s) => (await fetch(`/api/sections/${s}/live`)).status", other)
    assert status == 403
    page.wait_for_timeout(500)
    assert page.get_attribute(".live", "data-last-msg") == "5001"
    # phone layout
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(200)
    page.screenshot(path=str(env["art"] / "teacher_live_phone.png"), full_page=True)
    assert not errors, errors
    ctx.close()


def test_assistant_suggests_with_reason_and_feedback_is_stored(env):
    ctx, page, errors = _login(env, "teacher")
    page.wait_for_selector(".live[data-state]")
    page.wait_for_selector("#conn.on", timeout=10_000)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    # usual attention of this section is ~0.72 (demo history); six low windows in a row, after every
    # window earlier tests sent (clocks may be a little ahead: ingest accepts up to 5 min of skew)
    for i in range(6):
        publish(env["pub"], aggregate("north", "r101", "cp-north-r101", 6000 + i,
                                      start=now + timedelta(seconds=30 * i), attention_share=0.45 - 0.03 * i))
    page.wait_for_selector(".assist [data-fb=useful]", timeout=10_000)
    text = page.inner_text(".assist")
    assert "%" in text and ("专注度" in text or "Attention" in text)
    page.screenshot(path=str(env["art"] / "teacher_assistant.png"))
    page.click(".assist [data-fb=useful]")
    page.wait_for_selector(".assist", state="detached", timeout=5_000)
    store = env["srv"].store
    for _ in range(50):
        rows = store.db.query("SELECT rule_id, verdict, username FROM assistant_feedback")
        if rows:
            break
        page.wait_for_timeout(100)
    assert rows and rows[0]["verdict"] == "useful" and rows[0]["username"] == "teacher"
    assert not errors, errors
    ctx.close()


def test_counsellor_records_intervention(env):
    ctx, page, errors = _login(env, "counsellor")
    page.wait_for_selector(".warning")
    page.screenshot(path=str(env["art"] / "counsellor_warnings.png"))
    page.click(".warning >> nth=0 >> a.btn")
    page.wait_for_selector("#iv-form")
    page.select_option("#iv-form select[name=kind]", "call_home")
    page.fill("#iv-form textarea[name=note]", "Called parents about missed homework")
    # recorded after the fact: the call was five days ago (the date field offers no future day)
    today = datetime.now(timezone.utc).date()
    assert page.get_attribute("#iv-form input[name=at]", "max") == today.isoformat()
    assert page.inner_text("#iv-form label:has(input[name=at]) span") == "日期（留空 = 今天）"  # this user's zh-CN
    past = (today - timedelta(days=5)).isoformat()
    page.fill("#iv-form input[name=at]", past)
    page.click("#iv-form button[type=submit]")
    page.wait_for_selector(".iv form.outcome", timeout=10_000)
    assert "Called parents" in page.inner_text("#ivs")
    assert past in page.inner_text(".iv:has-text('Called parents')")  # listed with the day it took place
    page.select_option(".iv form.outcome select", "improved")
    page.click(".iv form.outcome button")
    page.wait_for_selector('[data-k="outcome"]', timeout=10_000)
    page.screenshot(path=str(env["art"] / "counsellor_profile.png"), full_page=True)
    rows = env["srv"].store.db.query("SELECT kind, outcome, by_user, substr(created_at, 1, 10) AS day FROM "
                                     "interventions")
    assert {"kind": "call_home", "outcome": "improved", "by_user": "counsellor", "day": past} in rows
    assert env["srv"].store.db.query("SELECT 1 FROM audit_log WHERE username = 'counsellor' AND action = "
                                     "'view_profile'")
    assert not errors, errors
    ctx.close()


def test_admin_downloads_reports(env, tmp_path):
    ctx, page, errors = _login(env, "admin")
    page.wait_for_selector("#view .grid2")  # rooms, warning counts, assistant feedback, audit log
    assert "counsellor" in page.inner_text('[data-k="audit"]')  # the counsellor test's views are listed
    page.screenshot(path=str(env["art"] / "admin_overview.png"), full_page=True)
    page.click('#nav a[data-view="reports"]')
    page.wait_for_selector("#rep-scope")
    page.select_option("#rep-scope", "school")
    with page.expect_download() as dl:
        page.click("#rep-csv")
    csv_path = tmp_path / "r.csv"
    dl.value.save_as(csv_path)
    assert csv_path.read_text("utf-8").startswith("# ClassPulse weekly report")
    with page.expect_download() as dl:
        page.click("#rep-pdf")
    pdf = env["art"] / "weekly_report_school.pdf"
    dl.value.save_as(pdf)
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert not errors, errors
    ctx.close()


def test_it_fleet_view_and_enrolment_token(env):
    now = datetime.now(timezone.utc)
    health = {"schema": "classpulse.health", "version": "1.0", "device": "cp-north-r101", "ts": now.isoformat(),
              "uptime_s": 3600, "cpu_temp_c": 61.5, "fps": 4.8, "outbox_depth": 2, "policy": "no-emotion",
              "model_versions": {"expression": "1.0.0"}, "sensing": True}
    env["pub"].publish("classpulse/v1/north/r101/cp-north-r101/health", json.dumps(health), qos=1).wait_for_publish(5)
    ctx, page, errors = _login(env, "it")
    page.wait_for_selector('tr[data-device="cp-north-r101"]', timeout=15_000)
    row = page.inner_text('tr[data-device="cp-north-r101"]')
    assert "61.5" in row and "expression 1.0.0" in row
    page.fill("#token-form input[name=site]", "north")
    page.fill("#token-form input[name=room]", "r103")
    page.fill("#token-form input[name=device]", "cp-north-r103")
    page.click("#token-form button[type=submit]")
    page.wait_for_selector('[data-k="token"]')
    token = page.inner_text('[data-k="token"]')
    assert env["srv"].store.redeem_token(token).device == "cp-north-r103"
    page.screenshot(path=str(env["art"] / "it_fleet.png"), full_page=True)
    # the aggregator's broker name is refused, and the form says why
    page.fill("#token-form input[name=device]", "aggregator")
    page.click("#token-form button[type=submit]")
    page.wait_for_selector('#token-out [data-k="refused"][data-code="reserved_name"]')
    assert "device id" not in page.inner_text('#token-out [data-k="refused"]'), "our words, in the user's language"
    # a room move is IT's, in this view (a spare device: the others' rooms stay as the other tests expect)
    spare = {**health, "device": "cp-north-r109"}
    env["pub"].publish("classpulse/v1/north/r109/cp-north-r109/health", json.dumps(spare), qos=1).wait_for_publish(5)
    page.wait_for_selector('tr[data-device="cp-north-r109"]', timeout=15_000)
    page.select_option("#move-device", "cp-north-r109")
    page.fill("#move-form input[name=site]", "north")
    page.fill("#move-form input[name=room]", "r110")
    page.click("#move-form button[type=submit]")
    assert "north/r109" in page.inner_text('#move-out [data-k="moved"]')
    page.wait_for_function("() => document.querySelector('tr[data-device=\"cp-north-r109\"]').innerText"
                           ".includes('north/r110')")
    for _ in range(2):  # both languages, at the tablet size
        page.set_viewport_size({"width": 1180, "height": 820})
        lang = page.get_attribute("html", "lang")
        page.locator("#move-form").scroll_into_view_if_needed()
        page.screenshot(path=str(env["art"] / f"it_fleet_move_{lang}.png"))
        page.click("#lang")
        page.wait_for_function(f"() => document.documentElement.lang !== {lang!r}")
        page.wait_for_selector("#move-form")
    # IT may not see class engagement
    assert page.evaluate("async () => (await fetch('/api/live')).status") == 403
    assert not errors, errors
    ctx.close()


def test_language_switch_per_user(env):
    ctx, page, _ = _login(env, "advisor")
    page.wait_for_selector("#view .card h1")
    zh = page.inner_text("#view .card h1")
    page.click("#lang")
    page.wait_for_selector('html[lang="en"]', state="attached")
    page.wait_for_selector("text=Warnings of your students")
    assert page.inner_text("#view .card h1") != zh
    ctx.close()
    ctx, page, _ = _login(env, "advisor")  # remembered for the user, not the browser
    page.wait_for_selector("text=Warnings of your students")
    ctx.close()
