"""Find or start an MQTT broker for the demo: the system's Mosquitto if one answers,
else a private ``mosquitto`` process, else an embedded pure-Python broker (amqtt).

Production sites run Mosquitto (or a cluster such as EMQX) from systemd/; the
embedded broker exists so the demo works on a machine where nothing is installed.
It has no persistence, no TLS and no ACLs: never use it for real devices.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)


def port_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class BrokerHandle:
    host: str
    port: int
    kind: str  # "existing" | "mosquitto" | "embedded"
    _proc: subprocess.Popen | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _tmp: tempfile.TemporaryDirectory | None = field(default=None, repr=False)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._tmp is not None:
            self._tmp.cleanup()


def _wait_port(host: str, port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if port_answers(host, port, 0.2):
            return True
        time.sleep(0.05)
    return False


def start_mosquitto(port: int | None = None) -> BrokerHandle:
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = port or free_port()
    tmp = tempfile.TemporaryDirectory(prefix="classpulse-broker-")
    conf = Path(tmp.name) / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n", encoding="utf-8")
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    if not _wait_port("127.0.0.1", port, 10):
        proc.kill()
        tmp.cleanup()
        raise OSError("mosquitto did not start")
    return BrokerHandle("127.0.0.1", port, "mosquitto", _proc=proc, _tmp=tmp)


def start_embedded(port: int | None = None) -> BrokerHandle:
    from amqtt.broker import Broker

    port = port or free_port()
    cfg = {"listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}}, "sys_interval": 0,
           "auth": {"allow-anonymous": True, "plugins": ["auth_anonymous"]},
           "topic-check": {"enabled": False}}
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            broker = Broker(cfg, loop=loop)
        loop.run_until_complete(broker.start())
        started.set()
        loop.run_forever()

    threading.Thread(target=run, name="embedded-broker", daemon=True).start()
    if not started.wait(10) or not _wait_port("127.0.0.1", port, 5):
        raise OSError("embedded broker did not start")
    return BrokerHandle("127.0.0.1", port, "embedded", _loop=loop)


def ensure_broker(borrow: tuple[str, int] | None = None) -> BrokerHandle:
    """A broker the demo owns (private mosquitto on a free port, else embedded), or ``borrow``'s if given.

    The demo no longer borrows the system's broker by default: whatever it left there (sessions, retained
    status) would outlive it. A borrowed broker is cleaned on exit by :func:`clear_demo_traces`.
    """
    if borrow is not None:
        host, port = borrow
        if not port_answers(host, port):
            raise OSError(f"no MQTT broker answers on {host}:{port}")
        log.info("using the MQTT broker at %s:%s", host, port)
        return BrokerHandle(host, port, "existing")
    if shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists():
        h = start_mosquitto()
        log.info("started mosquitto on %s:%s", h.host, h.port)
        return h
    h = start_embedded()
    log.info("no broker installed: started an embedded broker on %s:%s", h.host, h.port)
    return h


def clear_demo_traces(host: str, port: int, client_ids: list[str], devices: list[str], wait_s: float = 2.0) -> int:
    """Leave nothing behind on a borrowed broker: end each client id's persistent session (connect with a clean
    session, disconnect) and clear every retained message on a topic of one of ``devices``. Returns how many
    retained messages were cleared."""
    import paho.mqtt.client as mqtt

    for cid in client_ids:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, clean_session=True, protocol=mqtt.MQTTv311)
        try:
            c.connect(host, port, keepalive=10)
            c.loop_start()
            deadline = time.monotonic() + wait_s * 5
            while not c.is_connected() and time.monotonic() < deadline:
                time.sleep(0.05)
        except OSError as e:
            log.warning("could not end the session of %s: %s", cid, e)
        finally:
            c.disconnect()
            c.loop_stop()
    ours = set(devices)
    retained: set[str] = set()
    lock = threading.Lock()

    def on_message(_c, _u, msg) -> None:  # noqa: ANN001
        if msg.retain and msg.payload and ours & set(msg.topic.split("/")):
            with lock:
                retained.add(msg.topic)

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="", clean_session=True, protocol=mqtt.MQTTv311)
    c.on_message = on_message
    c.on_connect = lambda cl, *_a: cl.subscribe("classpulse/#", qos=1)
    try:
        c.connect(host, port, keepalive=10)
    except OSError as e:
        log.warning("could not clear retained messages: %s", e)
        return 0
    c.loop_start()
    time.sleep(wait_s)  # retained messages arrive right after the subscription; nothing else is awaited
    with lock:
        topics = sorted(retained)
    for t in topics:
        c.publish(t, b"", qos=1, retain=True).wait_for_publish(5)
    c.disconnect()
    c.loop_stop()
    if topics:
        log.info("cleared %d retained message(s) the demo left on %s:%s", len(topics), host, port)
    return len(topics)
