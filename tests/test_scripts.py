"""The README's two commands: ``demo.sh --help`` answers without setting anything up."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _help(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(root / "scripts" / "demo.sh"), "--help"], capture_output=True, text=True,
                          timeout=120)


def test_demo_help_never_runs_setup(tmp_path):
    r = _help(REPO)  # set up: the demo's own option list
    assert r.returncode == 0 and "usage: cloud-aggregator demo" in r.stdout, r.stderr
    assert "setup:" not in r.stderr  # scripts/setup.sh always ends with "setup: ready"
    fresh = tmp_path / "clone"  # a fresh clone: no .venv, and a setup that would fail loudly
    (fresh / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "demo.sh", fresh / "scripts" / "demo.sh")
    (fresh / "scripts" / "setup.sh").write_text("echo 'setup: ran' >&2; exit 3\n")
    r = _help(fresh)
    assert r.returncode == 0 and "usage: bash scripts/demo.sh" in r.stdout and "setup:" not in r.stderr
