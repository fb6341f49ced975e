"""systemd units: `systemd-analyze verify` clean (no warning at all) and exposure ≤ 3.0 offline."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

UNITS = sorted((REPO / "systemd").glob("*.service"))
pytestmark = pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")


def localised(unit: Path, tmp: Path) -> Path:
    """The unit with its ExecStart pointed at this checkout's console script (verify checks it exists)."""
    exe = Path(sys.executable).parent / "edge-agent"
    text = re.sub(r"/opt/classpulse/\.venv/bin/edge-agent", str(exe), unit.read_text(encoding="utf-8"))
    out = tmp / unit.name
    out.write_text(text, encoding="utf-8")
    return out


def test_there_is_an_agent_unit():
    assert any(u.name == "classpulse-agent.service" for u in UNITS)


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_verify_has_no_warnings(unit, tmp_path):
    r = subprocess.run(["systemd-analyze", "verify", str(localised(unit, tmp_path))], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "" and r.stderr.strip() == "", r.stdout + r.stderr


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_security_exposure_at_most_3(unit, tmp_path):
    # --threshold counts in tenths: 30 means an overall exposure of 3.0
    r = subprocess.run(["systemd-analyze", "security", "--offline=true", "--threshold=30",
                        str(localised(unit, tmp_path))], capture_output=True, text=True)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout + r.stderr)
    assert m, r.stdout[-2000:] + r.stderr[-2000:]
    assert r.returncode == 0 and float(m.group(1)) <= 3.0, f"exposure {m.group(1)}"
