"""The real aggregator process (``cloud-aggregator run``) over a copy of the small demo school, for security tests.

Its own Mosquitto on a free port, enrolment configured (a password file in the test folder), and a web
listener on 127.0.0.1 that clients reach from other loopback source addresses (127.0.0.x), so tests can
act as several client addresses without trusting any header.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests._broker import Broker, free_port, start_mosquitto, wait_port
from tests._dashboard_helpers import PASSWORDS, copy_db
from tests._procs import spawn, stop, write_yaml


@dataclass
class AggProc:
    url: str
    config: Path
    db: Path
    tmp: Path
    proc: subprocess.Popen
    broker: Broker

    def client(self, source: str = "127.0.0.1", **kw: Any) -> httpx.Client:  # noqa: ANN401
        """An HTTP client whose connections come from the loopback address ``source``."""
        return httpx.Client(base_url=self.url, timeout=60, transport=httpx.HTTPTransport(local_address=source), **kw)

    def login(self, user: str, source: str = "127.0.0.1", password: str | None = None) -> httpx.Client:
        c = self.client(source)
        r = c.post("/api/login", json={"username": user, "password": password or PASSWORDS[user]})
        assert r.status_code == 200, r.text
        c.headers["X-CSRF-Token"] = r.json()["csrf"]
        return c

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cloud_aggregator.cli", *args, "--config", str(self.config)],
                              capture_output=True, text=True, input=stdin, timeout=180)

    def stop(self) -> None:
        stop(self.proc)
        self.broker.stop()


def start_aggregator(tmp: Path, tmpl: dict[str, Any], prepare: Any = None, **auth: Any) -> AggProc:  # noqa: ANN401
    """Copy the demo school to ``tmp/data/a.db`` (``prepare(db_path)`` may edit it), start the aggregator."""
    db = copy_db(tmpl, tmp / "data" / "a.db")
    if prepare is not None:
        prepare(db)
    broker = start_mosquitto(tmp / "broker")
    port = free_port()
    cfg = write_yaml(tmp / "agg.yaml", {
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "client_id": f"agg-sec-{port}"},
        "store": {"backend": "sqlite", "path": str(db)},
        "web": {"host": "127.0.0.1", "port": port, "trusted_proxies": ["127.0.0.9"]},
        "records": {"key_file": str(tmpl["key"])},
        "enrolment": {"broker_host": "127.0.0.1", "password_file": str(tmp / "passwd")},
        "dashboard": {"report_schedule": "off", "auth": auth}})
    log = tmp / "agg.log"
    proc = spawn(["cloud-aggregator", "run", "--config", str(cfg)], log)
    if not wait_port(port, 90):
        stop(proc)
        broker.stop()
        raise AssertionError(f"aggregator did not start: {log.read_text()[-3000:]}")
    return AggProc(f"http://127.0.0.1:{port}", cfg, db, tmp, proc, broker)
