"""``cloud-aggregator check`` against real Mosquitto: a broker without persistence is named after its
restart; one with persistence is not; what cannot be known yet is said so."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from cloud_aggregator.broker_check import assess
from cloud_aggregator.config import AggregatorConfig
from cloud_aggregator.config.store import StoreConfig
from cloud_aggregator.ingest import IngestService
from cloud_aggregator.store import open_store
from tests._broker import start_mosquitto
from tests._cloud_helpers import ACCEPT_UNREGISTERED, payload
from tests._procs import wait_for, write_yaml
from tests.test_ingest_faults import _publish

pytestmark = pytest.mark.slow


def check(tmp, port, db) -> dict:
    cfg = write_yaml(tmp / "check.yaml", {"mqtt": {"port": port}, "store": {"path": str(db)}})
    r = subprocess.run([sys.executable, "-m", "cloud_aggregator.cli", "check", "--config", str(cfg), "--wait", "3"],
                       capture_output=True, text=True, timeout=60)
    out = json.loads(r.stdout)
    assert r.returncode == (0 if out["ok"] else 1), r.stderr
    return out


@pytest.mark.parametrize("persistent", [False, True])
def test_check_names_a_broker_that_forgets_at_restart(tmp_path, persistent):
    broker = start_mosquitto(tmp_path / "b", persistence=persistent)
    db = tmp_path / "agg.db"
    try:
        store = open_store(StoreConfig(path=db))
        svc = IngestService(AggregatorConfig.model_validate({"mqtt": {"port": broker.port}, **ACCEPT_UNREGISTERED}), store)
        svc.start()
        assert svc.connected.wait(10)
        _publish(broker.port, [("classpulse/v1/s1/r1/d1/agg", payload(1))])
        assert wait_for(lambda: svc.stats.acks_published >= 1, 20)  # a retained ack now sits on the broker
        svc.stop()
        store.close()
        first = check(tmp_path, broker.port, db)
        assert any("has not restarted" in f for f in first["facts"]) or any("persists" in f for f in first["facts"])
        time.sleep(1.5)  # so the broker's new start is clearly after the ack's timestamp
        broker.stop()
        broker.start()
        after = check(tmp_path, broker.port, db)
        if persistent:
            assert after["ok"] and any("persists" in f for f in after["facts"]), after
        else:
            assert not after["ok"] and any("no persistence" in w for w in after["warnings"]), after
    finally:
        broker.stop()


def test_assess_says_what_it_cannot_know():
    out = assess(None, [], False, True)
    assert not out["ok"] and "cannot be checked" in out["warnings"][0]
    assert "between two connections" in assess(10.0, [], False, False)["warnings"][0]
