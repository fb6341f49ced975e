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


SHIPPED_CONF = Path(__file__).resolve().parents[1] / "systemd" / "mosquitto" / "classpulse.conf"
SHIPPED_ACL = SHIPPED_CONF.with_name("classpulse.acl")


@dataclass
class ShippedBroker:
    """The project's own Mosquitto config (both listeners, their password files and ACLs) on free ports."""

    broker: Broker
    devices_port: int
    services_port: int
    etc: Path  # stands in for /etc/mosquitto: classpulse-{devices,services}.passwd, the ACLs, certs/
    host: str = "127.0.0.1"

    @property
    def pid_file(self) -> Path:
        return self.etc / "mosquitto.pid"

    def add_user(self, listener: str, user: str, password: str) -> None:
        """``mosquitto_passwd -b`` into the ``devices`` or ``services`` password file (reload to apply)."""
        subprocess.run(["mosquitto_passwd", "-b", str(self.etc / f"classpulse-{listener}.passwd"), user, password],
                       check=True, capture_output=True)

    def reload(self) -> None:
        assert self.broker.proc is not None  # noqa: S101
        self.broker.proc.send_signal(signal.SIGHUP)

    def stop(self) -> None:
        self.broker.stop()


def render_shipped_conf(etc: Path, pki: Path, devices_port: int, services_port: int) -> str:
    """systemd/mosquitto/classpulse.conf with its paths under ``etc`` and its ports free ones (nothing else)."""
    text = SHIPPED_CONF.read_text(encoding="utf-8")
    text = text.replace("/etc/mosquitto/certs/", f"{pki}/").replace("/etc/mosquitto/", f"{etc}/")
    text = text.replace("listener 8883\n", f"listener {devices_port} 127.0.0.1\n")
    text = text.replace("listener 8884\n", f"listener {services_port} 127.0.0.1\n")
    head = [f"persistence_location {etc}/", "log_dest stderr", f"pid_file {etc}/mosquitto.pid"]
    if os.geteuid() == 0:
        head.append("user root")
    return "\n".join(head) + "\n" + text


def start_shipped_mosquitto(etc: Path, pki: Path) -> ShippedBroker:
    """Start the shipped config. Empty password files and the shipped services ACL are created when absent;
    the device ACL is the aggregator's to write (an empty one here until it does)."""
    etc.mkdir(parents=True, exist_ok=True)
    for name in ("classpulse-devices.passwd", "classpulse-services.passwd", "classpulse-devices.acl"):
        (etc / name).touch()
    if not (etc / "classpulse.acl").exists():
        shutil.copy(SHIPPED_ACL, etc / "classpulse.acl")
    dev, svc = free_port(), free_port()
    conf = etc / "mosquitto.conf"
    conf.write_text(render_shipped_conf(etc, pki, dev, svc), encoding="utf-8")
    b = Broker(dev, conf).start()
    if not wait_port(svc, patient(10)):
        b.stop()
        raise RuntimeError("the services listener did not open")
    return ShippedBroker(b, dev, svc, etc)


def subscribe_acked(client: mqtt.Client, sub: str, qos: int = 1, timeout: float = 5.0) -> None:
    """Subscribe and return once the broker has acknowledged it (SUBACK): nothing published later is missed."""
    acked: set[int] = set()
    client.on_subscribe = lambda _c, _u, mid, _rcs, _p=None: acked.add(mid)
    _, mid = client.subscribe(sub, qos)
    if not wait_for(lambda: mid in acked, timeout):
        raise RuntimeError(f"the broker did not acknowledge the subscription to {sub}")


def can_login(port: int, username: str, password: str, client_id: str = "", timeout: float = 2.0,
              tls: tuple[Path, Path | None, Path | None] | None = None) -> bool:
    """True once the broker accepts this login (e.g. after a password-file reload by SIGHUP);
    ``tls`` = (CA, client certificate, key) for a TLS listener (None, None: no client certificate)."""
    ok = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    c.username_pw_set(username, password)
    if tls is not None:
        c.tls_set(ca_certs=str(tls[0]), certfile=str(tls[1]) if tls[1] else None,
                  keyfile=str(tls[2]) if tls[2] else None)
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
