"""Start a private Mosquitto for a test: free port, own config in tmp_path, clean stop/kill.

    b = start_mosquitto(tmp_path, conf_extra="allow_anonymous true")
    ... b.host, b.port ...
    b.stop()      # SIGTERM; b.kill() for SIGKILL; b.restart() re-uses the same port and config
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(host: str, port: int, timeout: float = 10.0, alive=lambda: True) -> None:  # noqa: ANN001
    end = time.monotonic() + timeout
    while time.monotonic() < end and alive():
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


@dataclass
class Broker:
    host: str
    port: int
    conf: Path
    log: Path
    proc: subprocess.Popen | None = field(default=None, repr=False)

    def _launch(self) -> None:
        self.proc = subprocess.Popen(  # noqa: S603
            [MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=open(self.log, "ab")  # noqa: SIM115
        )
        try:
            wait_port(self.host, self.port, alive=lambda: self.proc is not None and self.proc.poll() is None)
        except TimeoutError:
            self.kill()
            raise RuntimeError(f"mosquitto did not start; log:\n{self.log.read_text()[-2000:]}") from None

    def stop(self) -> None:
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        self._end(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self._launch()

    def _end(self, sig: int) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


def start_mosquitto(tmp_path: Path, conf_extra: str = "allow_anonymous true\n", port: int | None = None,
                    listener_opts: str = "") -> Broker:
    """Start mosquitto on 127.0.0.1:<free port> with ``conf_extra`` appended after the listener line."""
    port = port or free_port()
    d = Path(tmp_path) / f"mosquitto-{port}"
    d.mkdir(parents=True, exist_ok=True)
    conf = d / "mosquitto.conf"
    conf.write_text(
        ""
        # as root mosquitto would drop to user "mosquitto", which cannot read files under a private tmp dir
        + ("user root\n" if os.geteuid() == 0 else "")
        + f"per_listener_settings false\npersistence false\nlog_dest stderr\nlog_type error\nlog_type warning\n"
        f"listener {port} 127.0.0.1\n{listener_opts}\n{conf_extra}\n"
    )
    b = Broker("127.0.0.1", port, conf, d / "mosquitto.log")
    b._launch()
    return b
