"""The command lines as users call them: config errors by key path, replay's JSON-lines output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=300)


def test_config_check_names_every_bad_key(tmp_path):
    bad = tmp_path / "agent.yaml"
    bad.write_text("polcy: full\nwindow_s: 2\nmqtt: {port: 99999}\n")
    r = run("edge-agent", "config", "check", str(bad))
    assert r.returncode == 2
    for key in ("polcy: unknown key", "window_s:", "mqtt.port:"):
        assert key in r.stderr, r.stderr
    good = tmp_path / "ok.yaml"
    good.write_text("policy: no-emotion\nschedule: {always: true}\n")
    r = run("edge-agent", "config", "check", str(good))
    assert r.returncode == 0 and json.loads(r.stdout.splitlines()[-1])["ok"] is True
    r = run("cloud-aggregator", "config", "check", str(bad))
    assert r.returncode == 2 and "polcy" in r.stderr


def test_replay_writes_contract_lines(tmp_path, samples_dir):
    out = tmp_path / "out.jsonl"
    r = run("edge-agent", "replay", "--video", str(samples_dir / "classroom.mp4"), "--audio",
            str(samples_dir / "classroom.wav"), "--out", str(out), "--start", "2026-11-23T08:00:00Z")
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 2  # 75 s of media in 60 s windows: one full window and a flagged partial one
    for a in lines:
        assert {"window_start", "window_end", "n_faces", "attention_share", "speech_share", "engagement"} <= set(a)
        assert a["schema"] == "classpulse.agg" and a["policy"] == "no-emotion" and a["expression_mix"] is None
    assert lines[0]["window_start"] == "2026-11-23T08:00:00Z" and lines[0]["n_faces"] >= 20
    assert "partial_window" in lines[1]["quality"]
    r = run("edge-agent", "replay", "--audio", str(samples_dir / "classroom.wav"), "--out", str(out))
    assert r.returncode == 0
    for a in map(json.loads, out.read_text().splitlines()):  # no camera: not looked, so null, never 0 faces
        assert a["n_faces"] is None and a["vision_coverage"] is None and a["speech_share"] is not None
