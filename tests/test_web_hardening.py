"""Issue #18 findings 4–11 as regressions against the real aggregator process (``cloud-aggregator run``).

Client addresses are real: each client connects from its own loopback source address (127.0.0.x).
The throttle's counters are also driven directly with explicit clocks (no sleeping) and from several
processes at once, because "atomic" has to hold across uvicorn workers sharing one database.
"""

from __future__ import annotations

import json
import multiprocessing
import re
import sqlite3
import stat
from pathlib import Path
from urllib.parse import quote, unquote

import pytest

from tests._aggregator_proc import start_aggregator
from tests._dashboard_helpers import PASSWORDS, run_warnings
from tests._store_helpers import store_for

pytestmark = pytest.mark.security
EVIL = "bio\"; filename*=UTF-8''report.html; x=\""
CHINESE = "高一(3)班-化学"


def _sections(db: Path) -> None:
    """Imported class ids that once broke the download header (finding 5), and a warnings run to act on."""
    from cloud_aggregator.config.store import StoreConfig
    from cloud_aggregator.store import open_store

    con = sqlite3.connect(db)
    for sid in (EVIL, CHINESE):
        con.execute("INSERT INTO sections (sourced_id, title) VALUES (?, ?)", (sid, sid))
    con.commit()
    con.close()
    store = open_store(StoreConfig(path=db))
    try:
        run_warnings(store)
    finally:
        store.close()


@pytest.fixture(scope="module")
def agg(tmp_path_factory, tmpl):
    tmp = tmp_path_factory.mktemp("hardening")
    a = start_aggregator(tmp, tmpl, prepare=_sections, address_attempts=8, user_attempts=6)
    yield a
    a.stop()


def _wrong(c, user: str) -> int:  # noqa: ANN001
    return c.post("/api/login", json={"username": user, "password": "not-the-password"}).status_code


def _right(c, user: str) -> int:  # noqa: ANN001
    return c.post("/api/login", json={"username": user, "password": PASSWORDS[user]}).status_code


# ---------------------------------------------------------------- 4: no lockout of the real user
def test_failures_elsewhere_do_not_lock_the_real_user_out(agg):
    attacker = agg.client("127.0.0.3")
    assert [_wrong(attacker, "teacher") for _ in range(6)][-1] == 429, "the attacker's pair is delayed"
    assert _right(agg.client("127.0.0.30"), "teacher") == 200, "the real user elsewhere logs in"


def test_an_address_block_spares_users_who_logged_in_from_there(agg):
    assert _right(agg.client("127.0.0.6"), "teacher2") == 200  # the school's NAT address, used before
    nat = agg.client("127.0.0.6")
    codes = [_wrong(nat, f"sprayed-{i}") for i in range(10)]
    assert codes[-1] == 429, codes
    assert _wrong(nat, "another-name") == 429, "unknown pairs behind the address are blocked"
    assert _right(nat, "teacher2") == 200, "a user who logged in from this address before is not"


def test_a_distributed_guess_blocks_new_addresses_not_the_users_own(agg):
    assert _right(agg.client("127.0.0.7"), "advisor") == 200
    codes = [_wrong(agg.client(f"127.0.1.{i}"), "advisor") for i in range(1, 8)]
    assert codes[:6] == [401] * 6 and codes[6] == 429, codes  # user_attempts 6 from addresses it never used
    assert _right(agg.client("127.0.2.1"), "advisor") == 429
    assert _right(agg.client("127.0.0.7"), "advisor") == 200, "its own address still works"


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_pair_delay_doubles_is_capped_and_expires(tmp_path, backend):
    from cloud_aggregator.config.web import AuthConfig
    from cloud_aggregator.store.db import ensure_web_tables
    from cloud_aggregator.store.login_throttle import charge_delay
    from cloud_aggregator.web.throttle import prune

    with store_for(backend, tmp_path) as store:
        ensure_web_tables(store)

        def go(now: float) -> bool:
            return charge_delay(store, "pair:x", free=3, base_s=10, max_s=35, forget_s=100, now=now)

        assert [go(0), go(0), go(0)] == [True] * 3, "three free attempts; the third starts a 10 s delay"
        assert not go(9.9) and go(10), "refused inside the delay, allowed when it has passed"
        assert not go(29.9) and go(30), "then 20 s"
        assert not go(64.9) and go(65), "then capped at 35 s"
        assert not go(99.9) and go(100)
        assert go(235) and go(235) and go(235), "forgotten after 100 s of quiet past the delay"
        assert not go(235)
        assert prune(store, AuthConfig(), 235) == 0, "a live delay is kept"
        assert prune(store, AuthConfig(), 10**6) == 1 and go(10**6), "old rows go"


def _hammer(store_cfg: dict, n: int, q: multiprocessing.Queue) -> None:
    from cloud_aggregator.config.store import StoreConfig
    from cloud_aggregator.store import open_store
    from cloud_aggregator.store.login_throttle import charge_window

    store = open_store(StoreConfig.model_validate(store_cfg))
    q.put(sum(charge_window(store, "addr:race", 10, 3600, 1000.0) for _ in range(n)))
    store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_counters_hold_across_processes(tmp_path, backend):
    """Four processes on one database charge one key 25 times each: exactly the limit (10) get through."""
    from cloud_aggregator.store.db import ensure_web_tables

    with store_for(backend, tmp_path) as store:
        ensure_web_tables(store)
        cfg: dict = {"path": str(tmp_path / "store.db")}
        if backend == "postgres":
            i = store.db.conn.info
            cfg = {"backend": "postgres", "dsn": f"postgresql://{i.user}@{i.host}:{i.port}/{i.dbname}"}
        ctx = multiprocessing.get_context("spawn")
        q = ctx.Queue()
        procs = [ctx.Process(target=_hammer, args=(cfg, 25, q)) for _ in range(4)]
        for p in procs:
            p.start()
        got = [q.get(timeout=180) for _ in procs]
        for p in procs:
            p.join(timeout=60)
        assert sum(got) == 10, got


# ---------------------------------------------------------------- 5: download names from imported ids
@pytest.mark.parametrize("section", [EVIL, CHINESE])
@pytest.mark.parametrize("fmt", ["csv", "pdf"])
def test_report_download_names_are_safe(agg, section, fmt):
    admin = agg.login("admin", "127.0.0.20")
    r = admin.get("/api/reports/weekly", params={"scope": f"section:{section}", "format": fmt, "lang": "en"})
    assert r.status_code == 200, r.text[:300]
    cd = r.headers["content-disposition"]
    assert cd.isascii() and cd.count("filename=") == 1 and cd.count("filename*=") == 1, cd
    m = re.fullmatch(r'attachment; filename="([A-Za-z0-9_-]+\.(\w+))"; filename\*=UTF-8\'\'([A-Za-z0-9%_.-]+)', cd)
    assert m and m.group(2) == fmt, cd
    name = unquote(m.group(3))  # what a browser saves: filename* wins (RFC 6266 4.3)
    assert name.endswith(f".{fmt}") and name.count(".") == 1, cd
    assert not any(ch in name for ch in "\"';/\\ "), cd
    if section == CHINESE:
        assert "高一" in name and "化学" in name


# ---------------------------------------------------------------- 6 + 10: absurd dates are 422
@pytest.mark.parametrize("week", ["0001-01-01", "9999-12-31", "1999-12-31", "2100-01-01"])
def test_absurd_report_weeks_are_422(agg, week):
    admin = agg.login("admin", "127.0.0.21")
    r = admin.get("/api/reports/weekly", params={"scope": "school", "week": week, "format": "csv"})
    assert r.status_code == 422, (week, r.status_code, r.text[:200])


def _warning(c) -> dict:  # noqa: ANN001
    ws = c.get("/api/warnings").json()["warnings"]
    assert ws, "the demo school has warnings"
    return ws[0]


def test_actions_on_missing_warnings_are_404_and_absurd_dates_422(agg):
    c = agg.login("counsellor", "127.0.0.22")
    w = _warning(c)
    p = w["student"]
    missing = f"{p}:attendance:1999-W01"
    assert c.post(f"/api/warnings/{missing}/action", json={"action": "acknowledge"}).status_code == 404
    assert c.post(f"/api/students/{p}/interventions", json={"kind": "meeting", "warning_id": missing}
                  ).status_code == 404
    for at in ("0001-01-01", "1999-12-31"):
        assert c.post(f"/api/students/{p}/interventions", json={"kind": "meeting", "at": at}).status_code == 422
    assert c.post(f"/api/warnings/{w['id']}/action", json={"action": "acknowledge"}).status_code == 201
    assert c.post(f"/api/students/{p}/interventions", json={"kind": "meeting", "warning_id": w["id"],
                                                            "at": "2024-09-02"}).status_code == 201


# ---------------------------------------------------------------- 7: sessions end on credential/role change
def test_replacing_a_user_ends_its_sessions(agg):
    r = agg.cli("user", "add", "it-chen", "--role", "it")
    assert r.returncode == 0, r.stderr
    old = agg.login("it-chen", "127.0.0.23", password=json.loads(r.stdout)["password"])
    assert old.get("/api/me").status_code == 200
    r = agg.cli("user", "add", "it-chen", "--role", "admin", "--replace", "--password-stdin",
                stdin="a long new passphrase\n")
    assert r.returncode == 0, r.stderr
    assert old.get("/api/me").status_code == 401, "the old session (old role) is gone"
    new = agg.login("it-chen", "127.0.0.23", password="a long new passphrase")
    assert new.get("/api/me").json()["user"]["role"] == "admin"
    assert agg.cli("user", "passwd", "it-chen", "--password-stdin", stdin="another long passphrase\n").returncode == 0
    assert new.get("/api/me").status_code == 401


# ---------------------------------------------------------------- 8: the password rule
@pytest.mark.parametrize("pw", ["12345678", "password", "        ", "iloveyou1", "ms-zhao", "Ms-Zhao2024!",
                                "aaaaaaaaaaaa", "Classpulse1", "short"])
def test_weak_passwords_are_refused(agg, pw):
    r = agg.cli("user", "add", "ms-zhao", "--role", "it", "--password-stdin", stdin=pw + "\n")
    assert r.returncode == 2 and "password" in r.stderr, (pw, r.returncode, r.stderr)


def test_a_good_password_is_accepted_and_passwd_applies_the_rule(agg):
    r = agg.cli("user", "add", "ms-qian", "--role", "it", "--password-stdin", stdin="violet tram at dusk\n")
    assert r.returncode == 0, r.stderr
    r = agg.cli("user", "passwd", "ms-qian", "--password-stdin", stdin="qwertyuiop\n")
    assert r.returncode == 2 and "common" in r.stderr


# ---------------------------------------------------------------- 9: private database files
def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_database_files_are_private(agg, tmp_path):
    for p in (agg.db, agg.db.with_name("a.db-wal"), agg.db.with_name("a.db-shm")):
        assert p.exists() and _mode(p) == 0o600, f"{p.name}: {oct(_mode(p))}"
    fresh = tmp_path / "new" / "data" / "agg.db"
    cfg = tmp_path / "fresh.yaml"
    cfg.write_text(json.dumps({"store": {"backend": "sqlite", "path": str(fresh)}}))
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "cloud_aggregator.cli", "user", "list", "--config", str(cfg)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert _mode(fresh.parent) == 0o700 and _mode(fresh) == 0o600


# ---------------------------------------------------------------- 11: no-store, OpenAPI errors, token input
def test_personal_data_is_not_cached(agg):
    c = agg.login("counsellor", "127.0.0.24")
    p = _warning(c)["student"]
    for path in ("/api/warnings", f"/api/students/{p}", f"/api/students/{p}/interventions", "/api/me"):
        r = c.get(path)
        assert r.status_code == 200 and "no-store" in r.headers.get("cache-control", ""), path


def test_openapi_declares_error_responses(agg):
    doc = agg.client().get("/api/openapi.json").json()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            codes = set(op.get("responses", {}))
            assert {"401", "403"} <= codes, f"{method} {path}: {sorted(codes)}"
            if path in ("/api/login", "/api/enrol"):
                assert "429" in codes, f"{method} {path}"


def test_token_ttl_must_be_a_number(agg):
    it = agg.login("it", "127.0.0.25")
    body = {"site": "north", "room": "r101", "device": "cp-north-r199"}
    assert it.post("/api/fleet/tokens", json={**body, "ttl_h": True}).status_code == 422
    assert it.post("/api/fleet/tokens", json={**body, "ttl_h": 2}).status_code == 201


@pytest.mark.browser
def test_chromium_saves_reports_under_safe_names(agg):
    """What finding 5 saw: Chromium's own choice of file name for a hostile and a Chinese class id."""
    pytest.importorskip("playwright")
    from playwright.sync_api import sync_playwright

    from tests._dashboard_helpers import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        pytest.skip("no chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            ctx = browser.new_context(accept_downloads=True)
            assert ctx.request.post(f"{agg.url}/api/login", data={"username": "admin",
                                                                  "password": PASSWORDS["admin"]}).status == 200
            page = ctx.new_page()
            page.goto(f"{agg.url}/")
            names = {}
            for section in (EVIL, CHINESE):
                for fmt in ("csv", "pdf"):
                    url = f"/api/reports/weekly?scope=section:{quote(section, safe='')}&format={fmt}&lang=zh-CN"
                    with page.expect_download(timeout=60_000) as d:
                        page.evaluate("u => { const a = document.createElement('a'); a.href = u; "
                                      "document.body.appendChild(a); a.click(); a.remove(); }", url)
                    names[(section, fmt)] = d.value.suggested_filename
        finally:
            browser.close()
    for (section, fmt), name in names.items():
        assert name.endswith(f".{fmt}") and "report.html" not in name and name.count(".") == 1, names
        if section == CHINESE:
            assert "高一" in name and "化学" in name, name


def test_scheduled_report_files_stay_in_their_folder(tmpl, tmp_path):
    """Department names come from imported course codes: a code with ../ writes nothing outside the folder."""
    from datetime import date

    from cloud_aggregator.config.store import StoreConfig
    from cloud_aggregator.store import open_store
    from cloud_aggregator.web.reports import run_scheduled
    from tests._dashboard_helpers import copy_db

    store = open_store(StoreConfig(path=copy_db(tmpl, tmp_path / "r.db")))
    try:
        store.db.execute("INSERT INTO sections (sourced_id, title, course_code) VALUES (?, ?, ?)",
                         ("sec-evil", "evil", "../../escape-101"))
        store.db.commit()
        out = tmp_path / "reports"
        written = run_scheduled(store, out, date(2025, 11, 3), "en")
    finally:
        store.close()
    assert written and all(p.resolve().is_relative_to(out.resolve()) for p in written)
    assert not list(tmp_path.glob("escape*")) and any("escape" in p.name for p in written)
