"""IT fleet: a model update pushed from the API reaches the device's cmd topic on a real broker, and its answer is recorded."""

from __future__ import annotations

import queue
import time

import paho.mqtt.client as mqtt
import pytest

from classpulse_contract import Command, CommandResult, dumps, parse_message
from cloud_aggregator.store import open_store
from tests._broker import start_mosquitto, subscribe_acked
from tests._dashboard_helpers import agg_config, copy_db, login, make_client, template_db
from tests._procs import patient

UPDATE = {"model": "expression", "version": "1.1.0", "url": "https://models.example.org/expression-1.1.0.tflite",
          "sha256": "a" * 64}


@pytest.fixture
def env(tmp_path, tmp_path_factory):
    tmpl = template_db(tmp_path_factory.getbasetemp() / "dash-template")
    broker = start_mosquitto(tmp_path / "b")
    cfg = agg_config(copy_db(tmpl, tmp_path / "a.db"), tmpl["key"], mqtt_port=broker.port, web_port=9)
    store = open_store(cfg.store)
    store.upsert_device("cp-north-r101", "north", "r101")
    app, client = make_client(store, cfg)
    yield store, client, broker
    store.close()
    broker.stop()


def test_model_update_reaches_device_and_result_is_recorded(env):
    store, client, broker = env
    got: queue.Queue = queue.Queue()
    dev = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="cp-north-r101")
    dev.on_message = lambda _c, _u, m: got.put(m)
    dev.connect("127.0.0.1", broker.port)
    dev.loop_start()
    subscribe_acked(dev, "classpulse/v1/north/r101/cp-north-r101/cmd")
    c = client()
    csrf = login(c, "it")
    r = c.post("/api/fleet/cp-north-r101/model-update", json=UPDATE, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 202 and r.json()["published"] is True
    msg = got.get(timeout=patient(5))
    cmd, _ = parse_message(msg.payload, "classpulse.cmd")
    assert isinstance(cmd, Command) and cmd.command == "model_update" and cmd.args == UPDATE
    res = CommandResult(cmd_id=cmd.cmd_id, device="cp-north-r101", ok=True, detail="installed", ts=cmd.issued_at)
    dev.publish("classpulse/v1/north/r101/cp-north-r101/cmd/result", dumps(res), qos=1).wait_for_publish(5)
    for _ in range(50):
        rows = c.get("/api/fleet/commands").json()
        if rows and rows[0]["result_ok"] is not None:
            break
        time.sleep(0.1)
    assert rows[0]["cmd_id"] == cmd.cmd_id and rows[0]["result_ok"] == 1 and rows[0]["result_detail"] == "installed"
    assert rows[0]["issued_by"] == "it"
    dev.loop_stop()
    dev.disconnect()


def test_model_update_validated_and_unknown_device_404(env):
    _, client, _ = env
    c = client()
    h = {"X-CSRF-Token": login(c, "it")}
    assert c.post("/api/fleet/cp-north-r101/model-update", json={**UPDATE, "sha256": "xyz"}, headers=h).status_code == 422
    for url in ("file:///etc/passwd", "http://models.example.org/x.tar.gz"):  # devices fetch over https only
        assert c.post("/api/fleet/cp-north-r101/model-update", json={**UPDATE, "url": url},
                      headers=h).status_code == 422
    assert c.post("/api/fleet/nope/model-update", json=UPDATE, headers=h).status_code == 404


def test_fleet_shows_the_last_model_update_from_health(env):
    from datetime import datetime, timezone

    from classpulse_contract import Health

    store, client, _ = env
    h = Health(device="cp-north-r101", ts=datetime.now(timezone.utc), uptime_s=5.0,
               model_versions={"tone": "voice-tone-1.1.0"}, last_model_update="failed: release 7 failed to start")
    store.upsert_health("north", "r101", h)
    c = client()
    login(c, "it")
    row = next(d for d in c.get("/api/fleet").json()["devices"] if d["device"] == "cp-north-r101")
    assert row["last_model_update"] == "failed: release 7 failed to start"
    assert row["model_versions"] == {"tone": "voice-tone-1.1.0"}


def test_it_lists_dead_letters_paged_without_bodies(env):
    store, client, _ = env
    secret = b'{"schema":"classpulse.agg","note":"' + b"S" * 1000 + b'"}'
    for i in range(25):
        store.dead_letter("classpulse/v1/north/r101/cp-north-r101/agg", secret + str(i).encode(), f"reason {i}",
                          f"2026-01-01T00:00:{i:02d}.000000Z")
    c = client()
    login(c, "it")
    first = c.get("/api/fleet/deadletters?limit=20").json()
    assert first["total"] == 25 and len(first["items"]) == 20
    assert first["items"][0]["reason"] == "reason 24" and first["items"][0]["device"] == "cp-north-r101"
    assert all(set(i) == {"id", "received_at", "last_seen", "topic", "reason", "size", "count", "device"}
               for i in first["items"])
    assert b"SSSS" not in c.get("/api/fleet/deadletters?limit=200").content
    second = c.get("/api/fleet/deadletters?limit=20&offset=20").json()
    assert [i["reason"] for i in second["items"]] == [f"reason {i}" for i in range(4, -1, -1)]
    assert c.get("/api/fleet/deadletters?device=Bad/../x").status_code == 422
    t = client()
    login(t, "teacher")
    assert t.get("/api/fleet/deadletters").status_code == 403
