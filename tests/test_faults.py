"""Fault tests with real processes and a real broker: broker outage, agent killed with SIGKILL."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from cloud_aggregator.config import AggregatorConfig
from cloud_aggregator.ingest import IngestService
from tests._broker import start_mosquitto
from tests._cloud_helpers import ACCEPT_UNREGISTERED
from tests._procs import patient, wait_for, write_yaml
from tests._store_helpers import store_for

pytestmark = pytest.mark.slow


def agent_cfg(tmp, port):
    return write_yaml(tmp / "agent.yaml", {
        "device": {"id": "dev-f", "site": "s1", "room": "r1"},
        "mqtt": {"host": "127.0.0.1", "port": port, "reconnect_min_s": 0.5, "reconnect_max_s": 2},
        "window_s": 60, "outbox": {"path": str(tmp / "outbox.db")},
    })


def driver(cfg, first, count, interval, log):
    return subprocess.Popen([sys.executable, "-m", "tests._publish_driver", str(cfg), str(first), str(count),
                             str(interval), "60"], stdout=subprocess.PIPE, stderr=log.open("ab"), text=True)


def stored_ids(store):
    rows = store.db.query("SELECT msg_id, received_at FROM aggregates WHERE device='dev-f' ORDER BY received_at, msg_id")
    return [r["msg_id"] for r in rows]


@pytest.fixture
def broker(tmp_path):
    b = start_mosquitto(tmp_path / "b")
    yield b
    b.stop()


def test_broker_outage_buffers_then_delivers_in_order(tmp_path, broker):
    with store_for("sqlite", tmp_path) as store:
        ingest = IngestService(AggregatorConfig.model_validate({"mqtt": {"port": broker.port}, **ACCEPT_UNREGISTERED}), store)
        ingest.start()
        assert ingest.connected.wait(patient(10))
        cfg = agent_cfg(tmp_path, broker.port)
        # 10 windows of agent time before, 10 during and 5 after a broker outage, compressed
        p = driver(cfg, 0, 25, 0.2, tmp_path / "driver.log")
        wait_for(lambda: len(stored_ids(store)) >= 5, 20)
        broker.kill()
        time.sleep(2.5)
        during = len(stored_ids(store))
        assert during < 25
        broker.start()
        out, _ = p.communicate(timeout=90)
        assert p.returncode == 0, out
        committed = [int(line.split()[1]) for line in out.splitlines() if line.startswith("committed")]
        assert wait_for(lambda: len(stored_ids(store)) == 25, 30)
        ids = stored_ids(store)
        assert ids == sorted(ids) == sorted(committed), "arrived out of order or not all"
        ingest.stop()


def test_sigkill_mid_stream_loses_nothing_committed(tmp_path, broker):
    with store_for("sqlite", tmp_path) as store:
        ingest = IngestService(AggregatorConfig.model_validate({"mqtt": {"port": broker.port}, **ACCEPT_UNREGISTERED}), store)
        ingest.start()
        assert ingest.connected.wait(patient(10))
        cfg = agent_cfg(tmp_path, broker.port)
        p = driver(cfg, 0, 100, 0.02, tmp_path / "driver.log")  # publishing while it is killed
        committed = []
        for line in p.stdout:
            if line.startswith("committed"):
                committed.append(int(line.split()[1]))
            if len(committed) >= 30:
                p.send_signal(signal.SIGKILL)
                break
        p.wait(timeout=10)
        assert p.returncode == -signal.SIGKILL
        # restarted agent: submits nothing new (count 0), only drains what the dead one committed
        p2 = driver(cfg, 1000, 0, 0, tmp_path / "driver2.log")
        out, _ = p2.communicate(timeout=60)
        assert "drained" in out
        assert wait_for(lambda: set(committed) <= set(stored_ids(store)), 40), (len(committed), len(stored_ids(store)))
        ids = stored_ids(store)
        assert len(ids) == len(set(ids)), "stored twice"
        ingest.stop()
