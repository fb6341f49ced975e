"""Run the real console scripts as subprocesses in tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

BIN = Path(sys.executable).parent
#: Every wait in a test is a condition; its deadline is this many times what an idle machine needs, so a
#: busy 2-core box (seven test runs at once) still passes. A passing test never waits for the deadline.
#: CLASSPULSE_TEST_PATIENCE overrides it (e.g. 10 on a slow board).
PATIENCE = float(os.environ.get("CLASSPULSE_TEST_PATIENCE", "4"))


def patient(seconds: float) -> float:
    """``seconds`` (what an idle machine needs) stretched to a deadline that holds under load."""
    return seconds * PATIENCE


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def spawn(cmd: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    e = dict(os.environ)
    e.update({"PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"})
    e.update(env or {})
    fh = log.open("ab")
    exe = str(BIN / cmd[0]) if (BIN / cmd[0]).exists() else cmd[0]
    return subprocess.Popen([exe, *cmd[1:]], stdout=fh, stderr=subprocess.STDOUT, env=e)


def wait_for(pred, timeout: float = 10.0, interval: float = 0.1):  # noqa: ANN001
    """Poll ``pred`` until it is truthy; ``timeout`` is the idle-machine time, stretched by :data:`PATIENCE`."""
    deadline = time.monotonic() + patient(timeout)
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    return pred()


def stop(p: subprocess.Popen, timeout: float = 10) -> None:
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
