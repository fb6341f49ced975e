"""Device health readings for the ``health`` topic (Linux /proc and /sys; absent values stay null)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def cpu_temp_c() -> float | None:
    """Highest thermal-zone reading (Pi: cpu-thermal; Jetson: several zones)."""
    temps = []
    for z in Path("/sys/class/thermal").glob("thermal_zone*/temp"):
        try:
            temps.append(int(z.read_text().strip()) / 1000.0)
        except (OSError, ValueError):
            continue
    valid = [t for t in temps if -40 <= t <= 150]
    return max(valid) if valid else None


def rss_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def load1() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def disk_free_mb(path: str | Path) -> float | None:
    try:
        return shutil.disk_usage(path).free / 2**20
    except OSError:
        return None
