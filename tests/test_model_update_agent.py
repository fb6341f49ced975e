"""``model_update`` over MQTT to a running agent process: good, tampered, broken, lost model (auto rollback), old,
rollback; the outcome shows in the command result and in health."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import paho.mqtt.client as mqtt
import pytest

from classpulse_contract import Command, dumps, topic
from edge_agent.model_bundle import generate_keypair, pack
from tests._broker import start_mosquitto
from tests._procs import spawn, stop, wait_for, write_yaml
from tests.test_model_bundles import REPO, make_bundle

pytestmark = [pytest.mark.security, pytest.mark.slow]
SITE, ROOM, DEV = "s1", "r1", "dev-m"


def test_model_updates_reach_a_running_agent(tmp_path, samples_dir):
    import hashlib

    priv, pub = generate_keypair(tmp_path / "release")
    rogue, _ = generate_keypair(tmp_path / "rogue")
    expression_model = (REPO / "models/expression/expression_int8.tflite").read_bytes()
    bundles = {}
    for name, rel, key, kw in [("good2", 2, priv, {}), ("good4", 4, priv, {"version": "1.2.0"}),
                               ("rogue", 5, rogue, {}), ("broken", 6, priv, {"tone_bytes": b"not a model" * 100}),
                               ("old", 1, priv, {}), ("tampered", 5, priv, {}),
                               ("swapped", 6, priv, {"tone_bytes": expression_model}),
                               ("no_tone", 7, priv, {"drop": "voice_tone"})]:
        d = make_bundle(tmp_path / name, rel, key, **kw)
        if name == "tampered":  # changed after signing (e.g. on the web server)
            with (d / "voice/voice_tone.tflite").open("ab") as f:
                f.write(b"\0")
        a = pack(d, tmp_path / f"{name}.tar.gz")
        bundles[name] = {"url": a.as_uri(), "sha256": hashlib.sha256(a.read_bytes()).hexdigest()}

    broker = start_mosquitto(tmp_path / "b")
    results: dict[str, dict] = {}
    health: list[dict] = []
    spy = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)

    def on_msg(c, u, m):
        d = json.loads(m.payload)
        if m.topic.endswith("/cmd/result"):
            results[d["cmd_id"]] = d
        elif m.topic.endswith("/health"):
            health.append(d)

    spy.on_message = on_msg
    spy.connect("127.0.0.1", broker.port)
    spy.subscribe("classpulse/#", 1)
    spy.loop_start()
    cfg = write_yaml(tmp_path / "agent.yaml", {
        "device": {"id": DEV, "site": SITE, "room": ROOM}, "mqtt": {"port": broker.port},
        "window_s": 5, "health_interval_s": 5, "policy": "full",
        "video": {"source": None}, "audio": {"source": str(samples_dir / "classroom.wav")},
        "schedule": {"always": True}, "outbox": {"path": str(tmp_path / "outbox.db")},
        "models": {"dir": str(tmp_path / "device-models"), "trusted_keys": [str(pub)], "probation_s": 3},
    })
    agent = spawn(["edge-agent", "run", "--config", str(cfg)], tmp_path / "agent.log")
    log = lambda: (tmp_path / "agent.log").read_text()[-3000:]  # noqa: E731

    def send(args: dict) -> dict:
        cmd = Command(cmd_id=uuid.uuid4().hex[:12], command="model_update", args=args,
                      issued_at=datetime.now(timezone.utc))
        spy.publish(topic(SITE, ROOM, DEV, "cmd"), dumps(cmd), qos=1).wait_for_publish(5)
        assert wait_for(lambda: cmd.cmd_id in results, 60), log()
        return results[cmd.cmd_id]

    def tone_version() -> str | None:
        return (health[-1].get("model_versions") or {}).get("tone") if health else None

    try:
        shipped = json.loads((REPO / "models/manifest.json").read_text())["models"]["voice_tone"]["version"]
        assert wait_for(lambda: tone_version() == f"voice-tone-{shipped}", 60), log()
        r = send(bundles["good2"])
        assert r["ok"] and "release 2 active" in r["detail"], r
        assert wait_for(lambda: tone_version() == "voice-tone-1.1.0", 20), health[-1:]
        probation = tmp_path / "device-models/probation.json"
        assert wait_for(lambda: not probation.exists(), 20), "a release that runs probation_s is confirmed"
        assert "confirmed" in log()
        r = send({**bundles["good2"], "sha256": "0" * 64})
        assert not r["ok"] and "sha256" in r["detail"]
        r = send(bundles["rogue"])
        assert not r["ok"] and "does not trust" in r["detail"], r
        r = send(bundles["broken"])
        assert not r["ok"] and "does not load" in r["detail"], r
        r = send(bundles["tampered"])
        assert not r["ok"] and "does not match its sha256" in r["detail"], r
        r = send({"url": str(tmp_path / "tampered")})  # the same bundle as a directory on the box
        assert not r["ok"] and "does not match its sha256" in r["detail"], r
        r = send(bundles["swapped"])  # signed, intact, loads, but is not a tone model
        assert not r["ok"] and "takes input [1, 48, 48, 1]" in r["detail"], r
        r = send({"url": str(tmp_path / "old.tar.gz")})  # a plain path to an archive on the box
        assert not r["ok"] and "not newer" in r["detail"], r
        for url in ("ftp://example.invalid/x.tar.gz", "http://127.0.0.1:9/x.tar.gz"):
            r = send({"url": url})
            assert not r["ok"] and "scheme" in r["detail"], r
        assert tone_version() == "voice-tone-1.1.0", "refused updates leave the running release alone"
        r = send(bundles["no_tone"])  # installs and activates, but the audio stage then has no tone model
        assert not r["ok"] and "could not load tone" in r["detail"] and "rolled back" in r["detail"], r
        assert wait_for(lambda: health and (health[-1].get("last_model_update") or "").startswith("failed: release 7"),
                        20), health[-1:]
        assert tone_version() == "voice-tone-1.1.0", "after the automatic rollback the old release runs"
        r = send({"url": str(tmp_path / "good4"), "model": "voice_tone", "version": "1.2.0"})  # a directory
        assert r["ok"], r
        assert wait_for(lambda: tone_version() == "voice-tone-1.2.0", 20)
        r = send({"action": "rollback"})
        assert r["ok"] and "rolled back" in r["detail"], r
        assert wait_for(lambda: tone_version() == "voice-tone-1.1.0", 20)
        assert (health[-1].get("last_model_update") or "").startswith("ok: rolled back to release 2-")
        assert agent.poll() is None, "the agent kept running through every update"
        releases = sorted(p.name.split("-")[0] for p in (tmp_path / "device-models/releases").iterdir())
        assert releases == ["2", "4"], "refused bundles leave nothing installed"
        assert not list((tmp_path / "device-models").glob(".incoming-*")), "downloads are cleaned up"

        # the active release (2) is altered on disk while the agent is down: the next start refuses it
        stop(agent)
        current = (tmp_path / "device-models/current").resolve()
        with (current / "voice/voice_tone.tflite").open("ab") as f:
            f.write(b"\0")
        health.clear()
        agent = spawn(["edge-agent", "run", "--config", str(cfg)], tmp_path / "agent.log")
        assert wait_for(lambda: health and "refused at start" in (health[-1].get("last_model_update") or ""), 60), log()
        assert tone_version() == "voice-tone-1.2.0", "it runs the previous release (4), which still verifies"
        assert f"installed model release {current.name} refused" in log() and "sha256" in log()
    finally:
        stop(agent)
        spy.loop_stop()
        broker.stop()
