"""Tiny sd_notify client and a progress-gated watchdog.

The watchdog is fed only while every registered pipeline stage reported progress recently, so a hung
analysis stage (deadlocked camera read, stuck inference) stops the pings and systemd restarts the unit;
a plain timer thread would keep a wedged agent "alive" forever.
"""

from __future__ import annotations

import os
import socket
import threading
import time


def notify(message: str, sock_path: str | None = None) -> bool:
    """Send one datagram to $NOTIFY_SOCKET (abstract '@' names supported). False when not under systemd."""
    path = sock_path if sock_path is not None else os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    addr = "\0" + path[1:] if path.startswith("@") else path
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
        s.connect(addr)
        s.sendall(message.encode())
    return True


def watchdog_interval_s() -> float | None:
    """Half of WATCHDOG_USEC (systemd's advice), or None when no watchdog is configured for this PID."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and int(pid) != os.getpid()):
        return None
    return int(usec) / 2e6


class Watchdog:
    """Pings WATCHDOG=1 every ``interval_s`` only while all ``stages`` progressed within ``stall_s``."""

    def __init__(self, stages: list[str], stall_s: float, interval_s: float | None = None,
                 sock_path: str | None = None) -> None:
        self.stall_s = stall_s
        self.interval_s = interval_s if interval_s is not None else (watchdog_interval_s() or 0.0)
        self.sock_path = sock_path
        now = time.monotonic()
        self._last = {s: now for s in stages}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stalled: list[str] = []

    def progress(self, stage: str) -> None:
        """Called by a stage each time it completes a unit of work (a frame, an audio chunk, a window)."""
        with self._lock:
            self._last[stage] = time.monotonic()

    def healthy(self) -> bool:
        now = time.monotonic()
        with self._lock:
            self.stalled = [s for s, t in self._last.items() if now - t > self.stall_s]
        return not self.stalled

    def ready(self) -> None:
        notify("READY=1\nSTATUS=sensing pipeline running", self.sock_path)

    def start(self) -> None:
        if self.interval_s <= 0:
            return
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        notify("STOPPING=1", self.sock_path)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            if self.healthy():
                notify("WATCHDOG=1", self.sock_path)
            else:
                notify(f"STATUS=stalled: {', '.join(self.stalled)}", self.sock_path)
