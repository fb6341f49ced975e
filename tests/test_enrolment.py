"""Enrolment end to end: IT issues a token, the box runs ``edge-agent enroll``, the broker lets it in.

Real Mosquitto (password file + the project's pattern ACL, reloaded by SIGHUP), the real aggregator
server, and ``edge-agent enroll`` as its own process.
"""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml

from cloud_aggregator.enrolment import mosquitto_hash
from tests._broker import can_login, free_port, start_mosquitto
from tests._dashboard_helpers import DashServer, agg_config, copy_db, template_db
from tests._procs import patient, wait_for

pytestmark = pytest.mark.security
ACL = Path(__file__).resolve().parents[1] / "systemd" / "mosquitto" / "classpulse.acl"


def test_mosquitto_accepts_our_password_hash(tmp_path):
    pw = tmp_path / "passwd"
    pw.write_text(f"dev-x:{mosquitto_hash('s3cret-password')}\n")
    b = start_mosquitto(tmp_path / "b", persistence=False,
                        extra=f"listener {{port}} 127.0.0.1\nallow_anonymous false\npassword_file {pw}\n")
    try:
        assert _connects(b.port, "dev-x", "s3cret-password")
        assert not _connects(b.port, "dev-x", "wrong-password")
    finally:
        b.stop()


def _connects(port: int, user: str, password: str) -> bool:
    done, ok = threading.Event(), []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{user}-{time.monotonic_ns()}")
    c.username_pw_set(user, password)
    c.on_connect = lambda cl, u, f, rc, p: (ok.append(not rc.is_failure), done.set())
    c.connect("127.0.0.1", port)
    c.loop_start()
    done.wait(patient(5))
    c.loop_stop()
    c.disconnect()
    return bool(ok and ok[0])


def test_token_to_connected_device(tmp_path):
    from cloud_aggregator.config import AggregatorConfig

    pw, acl, pid = tmp_path / "passwd", tmp_path / "acl", tmp_path / "mosquitto.pid"
    pw.write_text("")
    shutil.copy(ACL, acl)
    b = start_mosquitto(tmp_path / "b", persistence=False,
                        extra=f"listener {{port}} 127.0.0.1\nallow_anonymous false\npassword_file {pw}\n"
                              f"acl_file {acl}\n")
    pid.write_text(str(b.proc.pid))
    tmpl = template_db(tmp_path / "tmpl")
    base = agg_config(copy_db(tmpl, tmp_path / "agg.db"), tmpl["key"]).model_dump(mode="json")
    web_port = free_port()
    base.update(mqtt={"host": "127.0.0.1", "port": 1, "client_id": "enrol-test"},
                web={"host": "127.0.0.1", "port": web_port},
                enrolment={"broker_host": "127.0.0.1", "broker_port": b.port, "password_file": str(pw),
                           "mosquitto_pid_file": str(pid)})
    srv = DashServer.of(AggregatorConfig.model_validate(base), ingest=False).start()
    url = srv.url
    out = tmp_path / "etc-classpulse"
    try:
        with closing(srv.login("it")) as c:
            r = c.post("/api/fleet/tokens",
                       json={"site": "north", "room": "r105", "device": "cp-north-r105", "ttl_h": 1})
            assert r.status_code == 201, r.text
            token = r.json()["token"]

        def enroll(tok: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "edge_agent.cli", "enroll", "--server", url, "--out",
                                   str(out)], input=tok + "\n", capture_output=True, text=True, timeout=60)

        r = enroll(token)
        assert r.returncode == 0, r.stderr
        res = json.loads(r.stdout)
        assert res["device"] == "cp-north-r105" and res["broker_reloaded"] is True
        secret = out / "credentials" / "mqtt-password"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        conf = yaml.safe_load((out / "agent.yaml").read_text())
        assert conf["device"] == {"id": "cp-north-r105", "site": "north", "room": "r105"}
        assert secret.read_text() not in (out / "agent.yaml").read_text(), "the password stays out of the config"
        assert secret.read_text() not in pw.read_text(), "the broker keeps a hash only"

        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="cp-north-r105")
        c.username_pw_set(conf["mqtt"]["username"], secret.read_text())
        connected = threading.Event()
        c.on_connect = lambda cl, u, f, rc, p: connected.set() if not rc.is_failure else None
        # the aggregator SIGHUPs Mosquitto; the reload takes a moment (longer on a busy machine)
        assert wait_for(lambda: can_login(conf["mqtt"]["port"], conf["mqtt"]["username"], secret.read_text(),
                                          "cp-north-r105-probe"), 10), "the enrolled device must be able to log in"
        c.connect("127.0.0.1", conf["mqtt"]["port"])
        c.loop_start()
        assert connected.wait(patient(5)), "the enrolled device must be able to log in"
        c.loop_stop()
        c.disconnect()

        r = enroll(token)
        assert r.returncode == 2 and "403" in r.stderr, "a token works once"
        r = enroll("x" * 32)
        assert r.returncode == 2 and "refused" in r.stderr
        check = subprocess.run([sys.executable, "-m", "edge_agent.cli", "config", "check", str(out / "agent.yaml")],
                               capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
    finally:
        srv.stop()
        b.stop()


def test_enrol_without_the_aggregator_then_check_logs_in(tmp_path):
    """``enroll --device-id``: random password, the printed line goes into the broker's file, ``check`` passes."""
    import signal

    pw, acl = tmp_path / "passwd", tmp_path / "acl"
    pw.write_text("")
    shutil.copy(ACL, acl)
    b = start_mosquitto(tmp_path / "b", persistence=False,
                        extra=f"listener {{port}} 127.0.0.1\nallow_anonymous false\npassword_file {pw}\n"
                              f"acl_file {acl}\n")
    out = tmp_path / "etc-classpulse"
    out.mkdir()
    (out / "agent.yaml").write_text(yaml.safe_dump({  # the image's defaults; enrol fills in identity + broker
        "video": {"source": None}, "audio": {"source": None},
        "outbox": {"path": str(tmp_path / "data" / "outbox.db")}}))

    def enroll(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "edge_agent.cli", "enroll", "--device-id", "cp-south-r2",
                               "--site", "south", "--room", "r2", "--out", str(out), *extra],
                              capture_output=True, text=True, timeout=60)

    def check() -> dict:
        r = subprocess.run([sys.executable, "-m", "edge_agent.cli", "check", "--config", str(out / "agent.yaml")],
                           capture_output=True, text=True, timeout=120)
        return json.loads(r.stdout.strip().splitlines()[-1])

    try:
        r = enroll("--broker", f"127.0.0.1:{b.port}")
        assert r.returncode == 0, r.stderr
        res = json.loads(r.stdout.strip().splitlines()[-1])
        secret = (out / "credentials" / "mqtt-password").read_text()
        assert len(secret) >= 32 and stat.S_IMODE((out / "credentials" / "mqtt-password").stat().st_mode) == 0o600
        assert res["broker_passwd_line"].startswith("cp-south-r2:$7$") and secret not in r.stdout
        assert res["broker_passwd_line"] in (out / "broker-setup.txt").read_text()
        conf = yaml.safe_load((out / "agent.yaml").read_text())
        assert conf["video"] == {"source": None} and conf["mqtt"]["username"] == "cp-south-r2"
        assert "broker" in check()["failed"], "not yet on the broker: refused"

        pw.write_text(res["broker_passwd_line"] + "\n")  # what IT staff do on the broker
        b.proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: can_login(b.port, "cp-south-r2", secret), 10), "Mosquitto reloaded the passwords"
        res = check()
        assert res["ok"] and "broker" in res["passed"], res

        (tmp_path / "short").write_text("tooshort\n")
        r = enroll("--broker", f"127.0.0.1:{b.port}", "--password-file", str(tmp_path / "short"))
        assert r.returncode == 2 and "shorter than 16" in r.stderr
        r = enroll("--broker", "no-port-here")
        assert r.returncode == 2 and "HOST:PORT" in r.stderr
        assert (out / "credentials" / "mqtt-password").read_text() == secret, "a refused enrolment changes nothing"
        (tmp_path / "given").write_text("a-password-IT-chose-42\n")
        r = enroll("--broker", f"[::1]:{b.port}", "--password-file", str(tmp_path / "given"))
        assert r.returncode == 0, r.stderr
        assert (out / "credentials" / "mqtt-password").read_text() == "a-password-IT-chose-42"
        assert yaml.safe_load((out / "agent.yaml").read_text())["mqtt"]["host"] == "::1"
    finally:
        b.stop()
