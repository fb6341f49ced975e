"""``edge-agent check`` against a real private Mosquitto: all good, wrong password, broker down, camera gone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cloud_aggregator.enrolment import mosquitto_hash
from tests._broker import start_mosquitto
from tests._procs import write_yaml


def _check(cfg) -> tuple[int, list[str], dict]:
    r = subprocess.run([sys.executable, "-m", "edge_agent.cli", "check", "--config", str(cfg)],
                       capture_output=True, text=True, timeout=120)
    lines = [ln for ln in r.stdout.splitlines() if ln[:4] in ("ok  ", "FAIL")]
    return r.returncode, lines, json.loads(r.stdout.strip().splitlines()[-1])


def test_check_reports_each_problem(tmp_path, samples_dir):
    pw = tmp_path / "passwd"
    pw.write_text(f"dev-k:{mosquitto_hash('right-password')}\n")
    b = start_mosquitto(tmp_path / "b", persistence=False,
                        extra=f"listener {{port}} 127.0.0.1\nallow_anonymous false\npassword_file {pw}\n")
    (tmp_path / "secret").write_text("right-password\n")
    base = {"device": {"id": "dev-k", "site": "s1", "room": "r1"},
            "mqtt": {"port": b.port, "username": "dev-k", "password_file": str(tmp_path / "secret")},
            "video": {"source": str(samples_dir / "classroom.mp4")},
            "audio": {"source": str(samples_dir / "classroom.wav")},
            "outbox": {"path": str(tmp_path / "data" / "outbox.db")}}
    try:
        rc, lines, res = _check(write_yaml(tmp_path / "good.yaml", base))
        assert rc == 0 and res["ok"] and not res["failed"], lines
        assert {"config", "camera", "microphone", "groups", "broker", "clock", "models", "disk",
                "temperature"} <= set(res["passed"])
        assert len(lines) == len(res["passed"]), "one line per check"
        assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [], "the check leaves nothing on disk"

        (tmp_path / "wrong").write_text("wrong-password\n")
        bad = {**base, "mqtt": {**base["mqtt"], "password_file": str(tmp_path / "wrong")},
               "video": {"source": str(tmp_path / "unplugged.mp4")}}
        rc, lines, res = _check(write_yaml(tmp_path / "bad.yaml", bad))
        assert rc == 1 and set(res["failed"]) == {"broker", "camera"}, lines
        assert any("refused" in ln for ln in lines if "broker" in ln)
        assert "microphone" in res["passed"], "one failure does not hide the other checks"
    finally:
        b.stop()
    rc, lines, res = _check(tmp_path / "good.yaml")
    assert rc == 1 and res["failed"] == ["broker"], lines

    rc, lines, res = _check(write_yaml(tmp_path / "typo.yaml", {**base, "polcy": "full"}))
    assert rc == 1 and res["failed"] == ["config"] and "polcy" in lines[0]


def test_device_access_as_the_service_groups_see_it(tmp_path):
    """The service runs as a dynamic user with only the video and audio groups: the node's group decides."""
    import grp
    import os

    import pytest

    from edge_agent.check import access_problem, device_nodes
    from edge_agent.config import AgentConfig

    if os.geteuid() != 0:
        pytest.skip("needs root to give test files another group")
    node = tmp_path / "video0"
    node.write_bytes(b"")
    for group, mode, want in [("video", 0o660, None), ("video", 0o640, "not read-write for group 'video'"),
                              ("root", 0o660, "belongs to group 'root'"), ("root", 0o666, None)]:
        os.chown(node, 0, grp.getgrnam(group).gr_gid)
        node.chmod(mode)
        p = access_problem(node)
        assert (p is None) if want is None else (want in p), (group, oct(mode), p)
    assert "no such file" in (access_problem(tmp_path / "video9") or "")
    cfg = AgentConfig(video={"source": "camera:2"}, audio={"source": None})
    assert device_nodes(cfg) == [Path("/dev/video2")]
    assert device_nodes(AgentConfig(video={"source": "clip.mp4"}, audio={"source": None})) == []
