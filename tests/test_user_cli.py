"""``cloud-aggregator user``: accounts made by IT staff from the command line, then used to log in."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml

from tests._dashboard_helpers import agg_config, copy_db, make_client, template_db


def _cli(cfg_file, *args, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cloud_aggregator.cli", "user", *args, "--config", str(cfg_file)],
                          capture_output=True, text=True, input=stdin, timeout=120)


def test_user_add_login_passwd_disable(tmp_path):
    tmpl = template_db(tmp_path / "tmpl")
    db = copy_db(tmpl, tmp_path / "agg.db")
    cfg_file = tmp_path / "agg.yaml"
    cfg_file.write_text(yaml.safe_dump({"store": {"backend": "sqlite", "path": str(db)},
                                        "records": {"key_file": str(tmpl["key"])}}))
    from cloud_aggregator.store import open_store

    cfg = agg_config(db, tmpl["key"])
    store = open_store(cfg.store)
    from cloud_aggregator.store import db as webdb

    staff = webdb.query(store, "SELECT sourced_id FROM users WHERE role = ? LIMIT 1", ("teacher",))[0]["sourced_id"]
    store.close()

    r = _cli(cfg_file, "add", "ms-li", "--role", "teacher")
    assert r.returncode == 2 and "needs --staff" in r.stderr
    r = _cli(cfg_file, "add", "ms-li", "--role", "teacher", "--staff", "no-such-staff")
    assert r.returncode == 2 and "no staff member" in r.stderr
    r = _cli(cfg_file, "add", "ms-li", "--role", "teacher", "--staff", staff, "--display-name", "Ms Li")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    pw = out["password"]
    assert len(pw) >= 12 and out["staff"] == staff
    r = _cli(cfg_file, "add", "ms-li", "--role", "admin")
    assert r.returncode == 2 and "exists" in r.stderr
    r = _cli(cfg_file, "add", "it-wang", "--role", "it", "--password-stdin", stdin="short\n")
    assert r.returncode == 2 and "at least" in r.stderr
    (tmp_path / "pw").write_text("correct horse battery\n")
    assert _cli(cfg_file, "add", "it-wang", "--role", "it", "--password-file", str(tmp_path / "pw")).returncode == 0
    listed = json.loads(_cli(cfg_file, "list").stdout)
    names = {u["username"]: u for u in listed}
    assert names["ms-li"]["role"] == "teacher" and "pw_hash" not in names["ms-li"]
    assert pw not in json.dumps(listed)

    store = open_store(cfg.store)
    try:
        _, client_factory = make_client(store, cfg)
        with client_factory() as c:
            r = c.post("/api/login", json={"username": "ms-li", "password": pw})
            assert r.status_code == 200, r.text
            assert c.get("/api/me").json()["user"]["role"] == "teacher"
            assert c.post("/api/login", json={"username": "it-wang", "password": "correct horse battery"}
                          ).status_code == 200
        r = _cli(cfg_file, "passwd", "ms-li", "--password-stdin", stdin="a new long password\n")
        assert r.returncode == 0, r.stderr
        r = _cli(cfg_file, "disable", "it-wang")
        assert r.returncode == 0 and json.loads(r.stdout)["disabled"] is True
        with client_factory() as c:
            assert c.post("/api/login", json={"username": "ms-li", "password": pw}).status_code == 401
            assert c.post("/api/login", json={"username": "ms-li", "password": "a new long password"}
                          ).status_code == 200
            assert c.post("/api/login", json={"username": "it-wang", "password": "correct horse battery"}
                          ).status_code == 401
    finally:
        store.close()
    assert _cli(cfg_file, "disable", "nobody").returncode == 2
