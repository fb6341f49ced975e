"""systemd notification (``Type=notify``) and a watchdog fed only while the pipeline makes progress.

No dependency: one AF_UNIX datagram per message to ``$NOTIFY_SOCKET``. Outside
systemd (no socket) every call is a no-op.
"""

from __future__ import annotations

import os
import socket
import time


def notify(message: str, sock_path: str | None = None) -> bool:
    path = sock_path or os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    if path.startswith("@"):
        path = "\0" + path[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(path)
        s.sendall(message.encode())
    return True


def watchdog_interval_s() -> float | None:
    """Half of ``WATCHDOG_USEC`` (systemd's advice), when this process is the watched one."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and int(pid) != os.getpid()):
        return None
    return int(usec) / 2e6


class Watchdog:
    """Pings systemd only if every registered stage reported progress within ``stall_s``."""

    def __init__(self, stall_s: float, sock_path: str | None = None):
        self.stall_s = stall_s
        self.sock_path = sock_path
        self._last: dict[str, float] = {}

    def progress(self, stage: str, now: float | None = None) -> None:
        self._last[stage] = time.monotonic() if now is None else now

    def healthy(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return bool(self._last) and all(now - t <= self.stall_s for t in self._last.values())

    def tick(self, now: float | None = None) -> bool:
        """Send WATCHDOG=1 when healthy; returns whether a ping was sent."""
        if self.healthy(now):
            return notify("WATCHDOG=1", self.sock_path)
        return False
