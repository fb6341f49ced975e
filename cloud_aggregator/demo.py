"""The README's demo: broker → aggregator (+ dashboard) → simulated classroom agents on the sample media.

Everything runs on this machine: a private Mosquitto on a free port (else an embedded
broker; ``--broker HOST:PORT`` borrows an existing one and cleans up after itself); a SQLite
store under ``data/demo``; the synthetic demo school's records imported into it; and a few
``edge-agent`` processes replaying ``samples/`` in a loop as live devices (one connection each,
so the fleet shows them online throughout; restarted only if one exits). Ctrl-C stops everything.
"""

from __future__ import annotations

import logging
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from cloud_aggregator.broker import clear_demo_traces, ensure_broker
from cloud_aggregator.config import AggregatorConfig

if TYPE_CHECKING:
    from cloud_aggregator.records.keys import RecordsKeys
    from cloud_aggregator.store import Store

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
ROOM_PROFILE = SAMPLES.parent / "calibration" / "rooms" / "sample-classroom.yaml"  # made by calibrate-camera
DEMO_WINDOW_S = 10


def _prepare_school(data: Path, cfg: AggregatorConfig, store: Store) -> list[tuple[str, str, str]]:
    """Generate and import the demo school once; return (device, site, room) of its rooms."""
    from cloud_aggregator.records.api import generate_demo_school, import_records
    from cloud_aggregator.records.keys import ensure_key_file
    from cloud_aggregator.records.timetable import load_devices

    school = data / "school"
    if not (school / "devices.yaml").exists():
        log.info("generating the demo school in %s", school)
        generate_demo_school(school, seed=7)
    keys = ensure_key_file(data / "records.key")
    if store.count("users") == 0:
        log.info("importing the demo school's records (about 10 s)")
        rep = import_records(store, school, "all", keys=keys, config=cfg.records, progress=False)
        log.info("%s", rep.summary())
        _first_warnings_run(store, cfg, keys)
    from cloud_aggregator.web.demo import name_rooms

    name_rooms(store, school)
    devices = load_devices(school / "devices.yaml")
    rooms = [(d, site, room) for d, (site, room) in sorted(devices.device_index().items())]
    registered = {r["device"] for r in store.devices()}
    for d, site, room in rooms:  # ingest refuses devices the registry does not know (device_registry)
        if d not in registered:
            store.upsert_device(d, site, room)
    return rooms


def _first_warnings_run(store: Store, cfg: AggregatorConfig, keys: RecordsKeys) -> None:
    """Train the school's risk model on its outcomes and score the demo school as of its records' last day,
    so counsellors see warnings with tags and risk reasons at once.

    Later scheduled runs use today's date and mark the (older) demo records stale, as they should.
    """
    from datetime import datetime, timezone

    from cloud_aggregator.warnings import engine, risk
    from cloud_aggregator.web.students import as_of_date

    day = datetime.fromisoformat(as_of_date(store)).replace(hour=16, tzinfo=timezone.utc)
    try:
        model = risk.train(store, cfg.warnings, now=day, trigger="demo")
        log.info("risk model %s: held-out AUC %s", model["version"], model["metrics"].get("auc"))
    except risk.TrainingError as e:
        log.warning("no risk model for the demo: %s", e)
    res = engine.run(store, cfg.warnings, keys, now=day, trigger="demo", deliver=False)
    log.info("warnings run as of %s: %s", day.date(), res["counts"].get("by_level"))


def _seed_users(store: Store, school: Path) -> list[dict[str, str]]:
    """Demo logins, one per role (documented demo passwords; never use them on a real server)."""
    from cloud_aggregator.web.demo import seed_demo_users

    return seed_demo_users(store, school)


def _agent_config(data: Path, port: int, host: str, device: str, site: str, room: str, policy: str) -> Path:
    path = data / "agents" / f"{device}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({
        "device": {"id": device, "site": site, "room": room},
        "mqtt": {"host": host, "port": port},
        "policy": policy, "window_s": DEMO_WINDOW_S, "health_interval_s": 10,
        "video": {"source": str(SAMPLES / "classroom.mp4"), "target_fps": 1, "loop": True},
        "calibration": str(ROOM_PROFILE),
        "audio": {"source": str(SAMPLES / "classroom.wav"), "loop": True},
        "schedule": {"always": True},
        "outbox": {"path": str(data / "agents" / device / "outbox.db")},
    }, sort_keys=False), encoding="utf-8")
    return path


class AgentSupervisor(threading.Thread):
    """Keeps one edge-agent process running (it loops the sample; restarted only if it exits)."""

    def __init__(self, config: Path, log_path: Path):
        super().__init__(daemon=True, name=f"agent-{config.stem}")
        self.config, self.log_path = config, log_path
        self.proc: subprocess.Popen | None = None
        self.stop_evt = threading.Event()

    def run(self) -> None:
        exe = Path(sys.executable).parent / "edge-agent"
        while not self.stop_evt.is_set():
            with self.log_path.open("ab") as fh:
                self.proc = subprocess.Popen([str(exe), "run", "--config", str(self.config)],  # noqa: S603
                                             stdout=fh, stderr=subprocess.STDOUT)
                while self.proc.poll() is None and not self.stop_evt.is_set():
                    time.sleep(0.5)
            if self.stop_evt.is_set():
                break
            time.sleep(1)

    def stop(self) -> None:
        self.stop_evt.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def run_demo(data: Path, port: int = 8080, agents: int = 2, duration_s: float | None = None,
             borrow: tuple[str, int] | None = None) -> int:
    from cloud_aggregator.runtime import build

    data = data.resolve()
    data.mkdir(parents=True, exist_ok=True)
    from cloud_aggregator.records.keys import ensure_key_file

    ensure_key_file(data / "records.key")  # before the dashboard starts, so it can show names to counsellors
    broker = ensure_broker(borrow)
    # a clean session under a fresh client id: the demo keeps no queue on a broker once it has gone
    cfg = AggregatorConfig.model_validate({
        "mqtt": {"host": broker.host, "port": broker.port, "client_id": f"classpulse-demo-{secrets.token_hex(4)}",
                 "persistent_session": False},
        "store": {"backend": "sqlite", "path": str(data / "aggregator.db")},
        "web": {"host": "127.0.0.1", "port": port},
        "records": {"key_file": str(data / "records.key")},
    })
    aggregator = build(cfg)
    rooms = _prepare_school(data, cfg, aggregator.store)
    users = _seed_users(aggregator.store, data / "school")
    demo_rooms = {u.get("room") for u in users if u.get("room")}
    rooms = sorted(rooms, key=lambda r: (r[2] not in demo_rooms, r))  # agents in the demo teachers' rooms first
    aggregator.start()
    sups = []
    for i, (device, site, room) in enumerate(rooms[:agents]):
        policy = "full" if i == 0 else "no-emotion"
        sup = AgentSupervisor(_agent_config(data, broker.port, broker.host, device, site, room, policy),
                              data / "agents" / f"{device}.log")
        sup.start()
        sups.append(sup)
    url = f"http://127.0.0.1:{port}/"
    logins = ", ".join(f"{u['username']}/{u['password']}" for u in users)
    print(f"\nClassPulse demo running — broker: {broker.kind} on {broker.host}:{broker.port}\n"
          f"  dashboard: {url}\n"
          f"  agents: {', '.join(f'{d} ({r})' for d, _, r in rooms[:agents])} replaying samples/ "
          f"({DEMO_WINDOW_S} s windows)\n  data: {data}\n"
          f"  logins (demo only): {logins}\n"
          "Press Ctrl-C to stop.\n", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait(timeout=duration_s)
    print("stopping…", flush=True)
    for s in sups:
        s.stop()
    aggregator.stop()
    if broker.kind == "existing":  # not ours: take back the agents' sessions and retained status messages
        devices = [d for d, _, _ in rooms[:agents]]
        clear_demo_traces(broker.host, broker.port, [f"cp-{d}" for d in devices], devices)
    broker.stop()
    return 0
