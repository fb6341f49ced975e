"""First-boot enrolment from the boot-partition file, against a real aggregator and a real Mosquitto
(the shipped two-listener config: the device password file and ACL written by enrolment and reloaded by
SIGHUP, the aggregator on the services listener), both on loopback.

``edge-agent firstboot`` runs as its own process: on this machine, and — when scripts/check-aarch64.sh
hands over its emulated root in CLASSPULSE_AARCH64_ROOT — inside the arm64 root with the installed
package. Each failure (clock not synchronised, no network, wrong token, wrong room) leaves its result
line, changes nothing in the config directory and is retried at the next run; then the box enrols,
passes `edge-agent check`, starts the agent, loses its token, and shows up online in the fleet view.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.device_cert import cert_matches_key
from edge_agent.firstboot import Card, FirstbootError, parse_card
from tests._broker import can_login, free_port, start_shipped_mosquitto
from tests._dashboard_helpers import DashServer, agg_config, copy_db, template_db
from tests._ops_pki import make_pki
from tests._procs import patient, wait_for
from tests.conftest import REPO

ROOT = os.environ.get("CLASSPULSE_AARCH64_ROOT")


@pytest.fixture
def site(tmp_path):
    """The shipped two-listener Mosquitto, TLS with client certificates required on both (devices: password
    file + device ACL written by enrolment; services: the aggregator's own account and the shipped
    classpulse.acl) and the aggregator (ingest on the services listener, enrolment on, signing device CSRs
    with the client CA, reloading the broker by SIGHUP through its pid file)."""
    from cloud_aggregator.config import AggregatorConfig

    etc, pki = tmp_path / "mosquitto", make_pki(tmp_path / "pki", ["aggregator"])
    b = start_shipped_mosquitto(etc, pki)
    b.add_user("services", "aggregator", "aggregator-secret-pw")
    b.reload()
    (tmp_path / "agg-pw").write_text("aggregator-secret-pw")
    tmpl = template_db(tmp_path / "tmpl")
    base = agg_config(copy_db(tmpl, tmp_path / "agg.db"), tmpl["key"]).model_dump(mode="json")
    web_port = free_port()
    base.update(mqtt={"host": "127.0.0.1", "port": b.services_port, "client_id": "aggregator",
                      "username": "aggregator", "password_file": str(tmp_path / "agg-pw"),
                      "tls": {"ca_file": str(pki / "ca.crt"), "cert_file": str(pki / "aggregator.crt"),
                              "key_file": str(pki / "aggregator.key")}},
                web={"host": "127.0.0.1", "port": web_port},
                enrolment={"broker_host": "127.0.0.1", "broker_port": b.devices_port,
                           "password_file": str(etc / "classpulse-devices.passwd"),
                           "acl_file": str(etc / "classpulse-devices.acl"), "mosquitto_pid_file": str(b.pid_file),
                           "ca_file": str(pki / "ca.crt"), "client_ca_cert": str(pki / "ca.crt"),
                           "client_ca_key": str(pki / "ca.key"), "client_cert_days": 30})
    srv = DashServer.of(AggregatorConfig.model_validate(base)).start()
    assert srv.ingest.connected.wait(patient(30)), "aggregator up on the services listener"
    client = srv.login("it")
    yield srv.url, client, b
    client.close()
    srv.stop()
    b.stop()


def issue(client: httpx.Client, device: str, room: str) -> str:
    r = client.post("/api/fleet/tokens", json={"site": "north", "room": room, "device": device, "ttl_h": 1})
    assert r.status_code == 201, r.text
    return r.json()["token"]


class Box:
    """Where firstboot runs: this machine, or the emulated arm64 root (paths given as the box sees them)."""

    def __init__(self, tmp: Path) -> None:
        self.host_root = Path(ROOT) if ROOT else None
        inside = Path("/tmp/firstboot-test") if ROOT else tmp / "box"
        self.inside = inside
        self.base = (self.host_root / inside.relative_to("/")) if ROOT else inside
        shutil.rmtree(self.base, ignore_errors=True)
        for d in ("boot", "etc", "state", "data"):
            (self.base / d).mkdir(parents=True)
        shutil.copy(REPO / "scripts" / "deb" / "agent.yaml", self.base / "etc" / "agent.yaml")
        wav = REPO / "samples" / "classroom.wav"
        shutil.copy(wav, self.base / "data" / "class.wav")

    def path(self, rel: str) -> Path:
        return self.base / rel

    def run(self, clock_synced: bool = True) -> subprocess.CompletedProcess:
        flag = self.base / "data" / "synchronized"
        flag.unlink(missing_ok=True)
        if clock_synced:
            flag.write_text("")
        i = self.inside
        start = f"sh -c 'nohup {{agent}} run --config {i}/etc/agent.yaml > {i}/data/agent.log 2>&1 & echo $! > {i}/data/agent.pid'"
        if ROOT:
            agent = "/opt/classpulse/.venv/bin/edge-agent"
            cmd = ["chroot", str(self.host_root), "/usr/bin/env", "-i", "PATH=/usr/bin:/bin", "HOME=/root",
                   "LANG=C.UTF-8", "OMP_NUM_THREADS=1", agent]
        else:
            agent = f"{sys.executable} -m edge_agent.cli"
            cmd = [sys.executable, "-m", "edge_agent.cli"]
        cmd += ["firstboot", "--boot", f"{i}/boot", "--etc", f"{i}/etc", "--state-dir", f"{i}/state",
                "--agent", agent, "--clock-flag", f"{i}/data/synchronized", "--start", start.format(agent=agent),
                "--box-id", "dc:a6:32:00:00:01"]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=1800,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})

    def card(self, url: str, token: str, room: str = "r101", **extra) -> None:
        self.path("boot/classpulse.yaml").write_text(yaml.safe_dump({
            "server": url, "site": "north", "clock_wait_s": 0,
            "boxes": {"DC:A6:32:00:00:01": {"device_id": "cp-north-r101", "room": room, "token": token},
                      "dc:a6:32:00:00:02": {"device_id": "cp-north-r102", "room": "r102", "token": "y" * 32}},
            "agent": {"window_s": 5, "schedule": {"always": True}, "video": {"source": None},
                      "audio": {"source": f"{self.inside}/data/class.wav"},
                      "outbox": {"path": f"{self.inside}/data/outbox.db"}},
            **extra}))

    def result(self) -> str:
        return self.path("boot/classpulse-result.txt").read_text().splitlines()[0]

    def stop_agent(self) -> None:
        pid = self.path("data/agent.pid")
        if pid.exists():
            try:
                os.kill(int(pid.read_text().strip()), 15)
            except (ProcessLookupError, ValueError):
                pass


@pytest.mark.security
def test_first_boot_fails_safely_then_enrols(site, tmp_path):
    url, client, broker = site
    box = Box(tmp_path)
    token = issue(client, "cp-north-r101", "r101")
    etc_before = box.path("etc/agent.yaml").read_text()

    def untouched(r: subprocess.CompletedProcess, words: str) -> None:
        assert r.returncode == 1, r.stdout + r.stderr
        line = box.result()
        assert line.startswith("FAIL") and words in line, line
        assert box.path("etc/agent.yaml").read_text() == etc_before, "nothing installed on a failure"
        assert not box.path("etc/credentials").exists(), "no half-enrolled box"
        assert box.path("boot/classpulse.yaml").exists(), "the card stays for the next boot"

    box.card(url, token)
    untouched(box.run(clock_synced=False), "clock not synchronised")
    assert "will retry at next boot" in box.result()
    box.card(f"http://127.0.0.1:{free_port()}", token)
    untouched(box.run(), "no network")
    assert "will retry at next boot" in box.result()
    box.card(url, "z" * 32)
    untouched(box.run(), "wrong token")
    box.card(url, token, room="r999")
    untouched(box.run(), "wrong room")
    assert "r101" in box.result() and "r999" in box.result()

    box.card(url, token)  # IT corrects the card; the token was already redeemed: the kept answer is used
    try:
        r = box.run()
        assert r.returncode == 0, r.stdout + r.stderr + box.path("boot/classpulse-result.txt").read_text()
        assert box.result().startswith("OK enrolled cp-north-r101 in north/r101")
        conf = yaml.safe_load(box.path("etc/agent.yaml").read_text())
        assert conf["device"] == {"id": "cp-north-r101", "site": "north", "room": "r101"}
        assert conf["policy"] == "no-emotion" and conf["window_s"] == 5, "package defaults + the card's settings"
        secret = box.path("etc/credentials/mqtt-password")
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        key, crt = box.path("etc/credentials/mqtt-client.key"), box.path("etc/credentials/mqtt-client.crt")
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, "the box's own key, made on the box"
        assert conf["mqtt"]["tls"]["key_file"].endswith("credentials/mqtt-client.key")
        assert conf["mqtt"]["tls"]["cert_file"].endswith("credentials/mqtt-client.crt")
        assert cert_matches_key(crt.read_text(), key.read_bytes(), "cp-north-r101") is None
        assert not list(box.path("state").glob("*.key")), "no second copy of the key"
        assert not box.path("boot/classpulse.yaml").exists()
        for f in box.path("boot").iterdir():
            assert token not in f.read_text(), f"{f.name} still holds the token"
        assert not box.path("state/enrolment.json").exists(), "the kept answer (with the password) is gone"

        def online() -> bool:
            rows = client.get("/api/fleet").json()["devices"]
            return any(d["device"] == "cp-north-r101" and d["online"] for d in rows)
        assert wait_for(online, 120, 1), (client.get("/api/fleet").json(),
                                          box.path("data/agent.log").read_text()[-3000:])
        assert not can_login(broker.devices_port, "cp-north-r101", secret.read_text(),
                             tls=(box.path("etc/ca.crt"), None, None)), "the password alone is not enough"
        r2 = box.run()  # a later boot: no card any more, nothing to do, nothing changed
        assert r2.returncode == 1 and "no classpulse.yaml" in (r2.stdout + r2.stderr)
        assert json.loads(json.dumps(conf)) == yaml.safe_load(box.path("etc/agent.yaml").read_text())
    finally:
        box.stop_agent()


def test_site_map_names_the_box_or_says_it_is_missing():
    card = parse_card(yaml.safe_dump({"server": "https://agg.school.example", "site": "north", "boxes": {
        "10000000abcdef01": {"device_id": "cp-a", "room": "r1", "token": "t" * 20}}}))
    assert card.this_box(["10000000ABCDEF01".lower(), "dc:a6:32:00:00:09"]).device_id == "cp-a"
    with pytest.raises(FirstbootError, match="not in the card's boxes map"):
        card.this_box(["dc:a6:32:00:00:09"])


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=300), st.dictionaries(st.sampled_from(
    ["server", "site", "device_id", "room", "token", "boxes", "agent", "ca", "clock_wait_s", "x"]),
    st.one_of(st.none(), st.integers(), st.text(max_size=40), st.lists(st.text(max_size=5), max_size=3),
              st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3)), max_size=8).map(yaml.safe_dump)))
def test_any_card_text_parses_or_fails_with_one_line(text):
    """Whatever IT (or a corrupt SD card) puts in classpulse.yaml: a Card, or a FirstbootError — nothing else."""
    try:
        card = parse_card(text)
    except FirstbootError as e:
        assert "\n" not in str(e) and not e.retry
    else:
        assert isinstance(card, Card)
