"""The classpulse-agent package on this (amd64) machine: build, install, check, upgrade, remove, purge.

Real dpkg on the real system (CI runs as root on a throwaway machine), a real Mosquitto and the real
aggregator ingest. The upgrade test is the promise IT relies on: install N → the agent queues
aggregates while the broker is down → upgrade to N+1 → broker back → every queued aggregate is stored
exactly once, and config, credential, room profile and model directory are untouched.
The same package is installed on emulated arm64 by scripts/check-aarch64.sh.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from cloud_aggregator.config import AggregatorConfig
from cloud_aggregator.ingest import IngestService
from tests._broker import free_port, start_mosquitto
from tests._cloud_helpers import ACCEPT_UNREGISTERED
from tests._procs import wait_for
from tests._store_helpers import store_for
from tests.conftest import REPO

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("dpkg-deb"), reason="needs root and dpkg (CI has both)"),
]
ETC, STATE, APP = Path("/etc/classpulse"), Path("/var/lib/classpulse"), Path("/opt/classpulse")
LOCK = Path(tempfile.gettempdir()) / "classpulse-deb-tests.lock"  # one lock per machine: the package is system-wide
AGENT = APP / ".venv" / "bin" / "edge-agent"


def sh(*cmd: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def installed() -> bool:
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "classpulse-agent"], capture_output=True, text=True)
    return "installed" in r.stdout and "not-installed" not in r.stdout


@pytest.fixture(scope="module")
def debs(tmp_path_factory):
    """Version N from scripts/build-deb.sh, and N+1: the same package with a higher version and changed code.

    Under pytest-xdist each worker running a test of this module gets its own copy of this fixture; the
    package is installed system-wide, so one worker's teardown purge would pull it from under another's
    upgrade test. An exclusive lock held for the fixture's life makes the workers take turns."""
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, after the purge below
        yield from _built_debs(tmp_path_factory)


def _built_debs(tmp_path_factory):
    if installed():
        pytest.skip("classpulse-agent is installed on this machine; the test would replace it")
    out = tmp_path_factory.mktemp("debs")
    env = {**os.environ, "CLASSPULSE_DEB_VERSION": "0.1.0~test1"}
    r = subprocess.run(["bash", str(REPO / "scripts" / "build-deb.sh"), "amd64", str(out)], capture_output=True,
                       text=True, timeout=1800, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    n = Path(r.stdout.strip().splitlines()[-1])
    assert n == out / "classpulse-agent_0.1.0~test1_amd64.deb" and n.is_file()
    tree = out / "n1"
    sh("dpkg-deb", "-R", str(n), str(tree))
    control = tree / "DEBIAN" / "control"
    control.write_text(control.read_text().replace("Version: 0.1.0~test1", "Version: 0.1.0~test2"))
    (tree / "opt/classpulse/edge_agent/__init__.py").write_text('"""upgraded"""\n')
    n1 = out / "classpulse-agent_0.1.0~test2_amd64.deb"
    sh("dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "--build", str(tree), str(n1))
    shutil.rmtree(tree)
    yield n, n1
    if installed():
        sh("dpkg", "--purge", "classpulse-agent", check=False)


def test_package_contents_and_lintian(debs):
    n, _ = debs
    listing = sh("dpkg-deb", "-c", str(n)).stdout
    for f in ("./opt/classpulse/models/manifest.json", "./opt/classpulse/edge_agent/cli.py",
              "./lib/systemd/system/classpulse-agent.service", "./lib/systemd/system/classpulse-firstboot.service",
              "./etc/classpulse/agent.yaml", "./opt/classpulse/wheels/mediapipe-"):
        assert f in listing, f
    assert "cloud_aggregator" not in listing, "the box carries the agent only"
    assert "pyaudio" not in listing.lower().replace("python3-pyaudio", ""), "PyAudio comes from Debian"
    info = sh("dpkg-deb", "-I", str(n)).stdout
    assert "python3-pyaudio" in info and "Architecture: amd64" in info
    assert sh("dpkg-deb", "--info", str(n), "conffiles").stdout.split() == ["/etc/classpulse/agent.yaml"]
    if shutil.which("lintian"):
        r = sh("lintian", "--tag-display-limit", "0", str(n), check=False, timeout=1800)
        tags = [ln for ln in r.stdout.splitlines() if ln[:2] in ("E:", "W:")]
        assert not tags, "\n".join(tags)


def queued_aggs(db: Path) -> list[int]:
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT topic, payload FROM outbox ORDER BY id").fetchall()
    finally:
        con.close()
    return [json.loads(p)["msg_id"] for t, p in rows if t.endswith("/agg")]


def test_install_upgrade_with_queued_outbox_remove_purge(debs, tmp_path):
    n, n1 = debs
    sh("dpkg", "-i", str(n))
    assert AGENT.is_file() and (APP / "models" / "manifest.json").is_file()
    unit = Path("/lib/systemd/system/classpulse-agent.service")
    if shutil.which("systemd-analyze"):
        r = sh("systemd-analyze", "verify", str(unit), check=False)
        assert r.returncode == 0 and not r.stderr.strip(), r.stderr
    assert "cloud_aggregator" not in sh(str(AGENT.parent / "python"), "-c",
                                        "import edge_agent.cli, sys; print(sorted(sys.modules))").stdout
    sh(str(AGENT), "config", "check", str(ETC / "agent.yaml"))

    # enrolled by hand (offline enrolment, as docs/provisioning.md 3a'), file sources, broker down
    port = free_port()
    sh(str(AGENT), "enroll", "--device-id", "cp-pkg-r1", "--site", "pkg", "--room", "r1",
       "--broker", f"127.0.0.1:{port}", "--out", str(ETC))
    wav = tmp_path / "class.wav"
    import soundfile as sf

    audio, sr = sf.read(REPO / "samples" / "classroom.wav", start=10 * 16000, stop=22 * 16000, dtype="float32")
    sf.write(wav, audio, sr)
    conf = yaml.safe_load((ETC / "agent.yaml").read_text())
    conf.update(window_s=5, video={"source": None}, audio={"source": str(wav)}, schedule={"always": True},
                calibration=str(ETC / "room.yaml"))
    conf["mqtt"].update(reconnect_min_s=0.5, reconnect_max_s=1)
    (ETC / "agent.yaml").write_text(yaml.safe_dump(conf))
    shutil.copy(REPO / "calibration" / "rooms" / "sample-classroom.yaml", ETC / "room.yaml")
    release = STATE / "models" / "releases" / "7-deadbeef"
    release.mkdir(parents=True, exist_ok=True)
    (release / "manifest.json").write_text("{}")
    kept = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in
            (ETC / "agent.yaml", ETC / "credentials" / "mqtt-password", ETC / "room.yaml", release / "manifest.json")}

    run = sh(str(AGENT), "run", "--config", str(ETC / "agent.yaml"), timeout=300)
    assert run.returncode == 0
    queued = queued_aggs(STATE / "outbox.db")
    assert len(queued) >= 2, f"the agent should have queued its windows: {queued} {run.stderr[-2000:]}"

    sh("dpkg", "-i", str(n1))  # upgrade N → N+1
    assert (APP / "edge_agent" / "__init__.py").read_text() == '"""upgraded"""\n'
    for p, digest in kept.items():
        assert hashlib.sha256(p.read_bytes()).hexdigest() == digest, f"{p} changed in the upgrade"
    assert queued_aggs(STATE / "outbox.db") == queued, "the upgrade must not touch the outbox"
    assert "0.1.0~test2" in sh("dpkg-query", "-W", "classpulse-agent").stdout

    broker = start_mosquitto(tmp_path / "b", port=port,
                             extra=f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    try:
        with store_for("sqlite", tmp_path) as store:
            ingest = IngestService(AggregatorConfig.model_validate({"mqtt": {"port": port}, **ACCEPT_UNREGISTERED}), store)
            ingest.start()
            assert ingest.connected.wait(10)
            conf["audio"] = {"source": None}  # drain only: no new windows
            (ETC / "agent.yaml").write_text(yaml.safe_dump(conf))
            agent = subprocess.Popen([str(AGENT), "run", "--config", str(ETC / "agent.yaml")],
                                     stdout=subprocess.DEVNULL, stderr=(tmp_path / "agent.log").open("wb"))
            try:
                def stored() -> list[int]:
                    return [r["msg_id"] for r in store.db.query(
                        "SELECT msg_id FROM aggregates WHERE device = 'cp-pkg-r1' ORDER BY msg_id")]
                assert wait_for(lambda: set(queued) <= set(stored()), 90), (queued, stored())
                assert wait_for(lambda: not queued_aggs(STATE / "outbox.db"), 30)
                got = stored()
                assert sorted(got) == sorted(set(got)) and set(queued) <= set(got), "each aggregate once"
            finally:
                agent.terminate()
                agent.wait(timeout=30)
                ingest.stop()
    finally:
        broker.stop()

    sh("dpkg", "-r", "classpulse-agent")
    assert not (APP / ".venv").exists(), "remove takes the venv postinst made"
    assert (ETC / "agent.yaml").exists() and (ETC / "credentials" / "mqtt-password").exists(), "remove keeps config"
    sh("dpkg", "--purge", "classpulse-agent")
    assert not ETC.exists() and not STATE.exists() and not APP.exists(), "purge removes config and state"
