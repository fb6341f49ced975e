"""Host health readings for the minute-by-minute Health message. Every reading is optional: None means
"this box cannot tell", which the fleet view shows as unknown rather than as a fake zero."""

from __future__ import annotations

import os
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

from classpulse_contract.v1 import Health

_BOOT = time.monotonic()


def cpu_load() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def cpu_temp_c(thermal_root: Path = Path("/sys/class/thermal")) -> float | None:
    """Highest thermal-zone reading (Pi: cpu-thermal; Jetson: several zones, the hottest matters)."""
    temps = []
    for z in sorted(thermal_root.glob("thermal_zone*/temp")):
        try:
            v = int(z.read_text().strip()) / 1000.0
        except (OSError, ValueError):
            continue
        if -40 <= v <= 150:
            temps.append(v)
    return max(temps) if temps else None


def mem_available_mb(meminfo: Path = Path("/proc/meminfo")) -> float | None:
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        return None
    return None


def disk_free_mb(path: Path) -> float | None:
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return shutil.disk_usage(p).free / 2**20
    except OSError:
        return None


def collect(device: str, *, outbox_depth: int, outbox_dropped: int, data_dir: Path, fps: float | None = None,
            frames_dropped: int = 0, camera_ok: bool | None = None, mic_ok: bool | None = None,
            sensing: bool = False, policy: str = "full", clock_offset_s: float | None = None,
            model_versions: dict[str, str] | None = None, last_model_update: str | None = None,
            quality: list | None = None) -> Health:
    """One Health message from host readings plus what the pipeline and publisher know."""
    return Health(device=device, ts=datetime.now(timezone.utc), uptime_s=time.monotonic() - _BOOT,
                  cpu_load=cpu_load(), cpu_temp_c=cpu_temp_c(), mem_mb=mem_available_mb(),
                  disk_free_mb=disk_free_mb(data_dir), fps=fps, frames_dropped=frames_dropped,
                  outbox_depth=outbox_depth, outbox_dropped=outbox_dropped, camera_ok=camera_ok, mic_ok=mic_ok,
                  sensing=sensing, policy=policy, clock_offset_s=clock_offset_s,
                  model_versions=model_versions or {}, last_model_update=last_model_update,
                  quality=quality or [])
