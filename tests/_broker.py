"""Start a private Mosquitto for a test: own config, free port, killable (for outage and ACL/TLS cases)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt

from tests._procs import patient, wait_for

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


@dataclass
class Broker:
    port: int
    conf: Path
    proc: subprocess.Popen | None = None
    host: str = "127.0.0.1"

    def start(self) -> Broker:
        log = self.conf.with_suffix(".log").open("ab")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=log, stderr=log)
        if not wait_port(self.port, patient(10)):
            self.proc.kill()
            raise RuntimeError(f"mosquitto did not start: {self.conf.with_suffix('.log').read_text()[-2000:]}")
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start_mosquitto(tmp: Path, extra: str = "", port: int | None = None, persistence: bool = True) -> Broker:
    """Anonymous listener on a free port unless ``extra`` configures its own listeners."""
    port = port or free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    conf = tmp / f"mosquitto-{port}.conf"
    lines = [f"persistence {'true' if persistence else 'false'}", f"persistence_location {tmp}/",
             "autosave_interval 1", "autosave_on_changes true",
             "log_dest stderr"]
    if os.geteuid() == 0:  # mosquitto would drop to its own user and could not write its store here
        lines.append("user root")
    if "listener" not in extra:
        lines += [f"listener {port} 127.0.0.1", "allow_anonymous true"]
    conf.write_text("\n".join(lines) + "\n" + extra.replace("{port}", str(port)) + "\n", encoding="utf-8")
    return Broker(port, conf).start()


def subscribe_acked(client: mqtt.Client, sub: str, qos: int = 1, timeout: float = 5.0) -> None:
    """Subscribe and return once the broker has acknowledged it (SUBACK): nothing published later is missed."""
    acked: set[int] = set()
    client.on_subscribe = lambda _c, _u, mid, _rcs, _p=None: acked.add(mid)
    _, mid = client.subscribe(sub, qos)
    if not wait_for(lambda: mid in acked, timeout):
        raise RuntimeError(f"the broker did not acknowledge the subscription to {sub}")


def can_login(port: int, username: str, password: str, client_id: str = "", timeout: float = 2.0) -> bool:
    """True once the broker accepts this login (e.g. after a password-file reload by SIGHUP)."""
    ok = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    c.username_pw_set(username, password)
    c.on_connect = lambda _c, _u, _f, rc, _p=None: ok.set() if not rc.is_failure else None
    try:
        c.connect("127.0.0.1", port)
    except OSError:
        return False
    c.loop_start()
    try:
        return ok.wait(timeout)
    finally:
        c.disconnect()
        c.loop_stop()
