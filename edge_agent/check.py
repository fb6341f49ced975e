"""``edge-agent check``: a pre-flight for IT staff, one line per check, then one JSON object.

Run it on the box after enrolment and before walking away (``edge-agent check --config
/etc/classpulse/agent.yaml``); exit status 1 when anything failed. It reads one frame and
half a second of sound to prove the devices work, and drops both at once: nothing is stored.
"""

from __future__ import annotations

import argparse
import json
import shutil
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from edge_agent.config import AgentConfig

Check = tuple[str, Callable[[AgentConfig], str]]
#: Below this much free space on the outbox's disk the box cannot buffer a long broker outage.
MIN_FREE_MB = 200


class CheckFailed(Exception):
    pass


def check_calibration(cfg: AgentConfig) -> str:
    if cfg.calibration is None:
        return "no room profile (attention uses the default board direction; run calibrate-camera)"
    from calibration.profile import load_profile

    p = load_profile(cfg.calibration)
    return f"{len(p.camera.zones)} zones, seated area {'set' if p.camera.seated_area else 'not set'}"


def check_camera(cfg: AgentConfig) -> str:
    if not cfg.video.source:
        return "no camera configured"
    from edge_agent.sources.video import open_video_source

    src = open_video_source(cfg.video.source, cfg.video.width, cfg.video.height, cfg.video.target_fps)
    try:
        deadline = time.monotonic() + 10
        for frame in src.frames():
            if frame.image is not None:
                h, w = frame.image.shape[:2]
                frame.image = None  # proof that it works; nothing is kept
                return f"{cfg.video.source}: {w}x{h}"
            if time.monotonic() > deadline:
                break
    finally:
        src.close()
    raise CheckFailed(f"{cfg.video.source}: no frame within 10 s (unplugged, busy, or no permission: "
                      "is the service user in the 'video' group?)")


def check_microphone(cfg: AgentConfig) -> str:
    if not cfg.audio.source:
        return "no microphone configured"
    from edge_agent.sources.audio import open_audio_source

    src = open_audio_source(cfg.audio.source, cfg.audio.sample_rate, cfg.audio.chunk_s)
    try:
        deadline = time.monotonic() + 10
        for chunk in src.chunks():
            if chunk.samples is not None:
                n = len(chunk.samples)
                chunk.samples = None
                return f"{cfg.audio.source}: {n} samples at {cfg.audio.sample_rate} Hz"
            if time.monotonic() > deadline:
                break
    finally:
        src.close()
    raise CheckFailed(f"{cfg.audio.source}: no audio within 10 s (is the service user in the 'audio' group?)")


def check_broker(cfg: AgentConfig) -> str:
    import paho.mqtt.client as mqtt

    from edge_agent.mqtt_session import apply_credentials

    result: list[str] = []
    done = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"cp-check-{cfg.device.id}", protocol=mqtt.MQTTv311)
    apply_credentials(c, cfg.mqtt)

    def on_connect(client, userdata, flags, rc, props=None) -> None:  # noqa: ANN001
        result.append("ok" if not rc.is_failure else f"refused: {rc}")
        done.set()

    c.on_connect = on_connect
    try:
        c.connect(cfg.mqtt.host, cfg.mqtt.port, keepalive=10)
    except OSError as e:
        raise CheckFailed(f"{cfg.mqtt.host}:{cfg.mqtt.port}: {e}") from None
    c.loop_start()
    try:
        if not done.wait(10):
            raise CheckFailed(f"{cfg.mqtt.host}:{cfg.mqtt.port}: no answer within 10 s")
    finally:
        c.disconnect()
        c.loop_stop()
    if result[0] != "ok":
        raise CheckFailed(f"{cfg.mqtt.host}:{cfg.mqtt.port} {result[0]} (user {cfg.mqtt.username!r})")
    return f"{cfg.mqtt.host}:{cfg.mqtt.port} accepted user {cfg.mqtt.username!r}" + (" over TLS" if cfg.mqtt.tls else "")


def check_clock(cfg: AgentConfig) -> str:
    now = datetime.now(timezone.utc)
    if now.year < 2025:
        raise CheckFailed(f"the clock says {now.isoformat()}: set the time (NTP) before sensing; windows carry UTC")
    synced = Path("/run/systemd/timesync/synchronized").exists()
    return f"{now.isoformat(timespec='seconds')}" + (" (NTP synchronised)" if synced else " (NTP state unknown)")


def check_models(cfg: AgentConfig) -> str:
    from edge_agent.inference.manifest import DEFAULT_MANIFEST, load_manifest
    from edge_agent.model_updates import effective_manifest, self_test

    refused: list[str] = []
    manifest = effective_manifest(cfg, refused) or DEFAULT_MANIFEST
    if refused:
        raise CheckFailed("; ".join(refused) + f" (the agent would fall back to {manifest.parent.name})")
    self_test(manifest)
    models = load_manifest(manifest)
    return ", ".join(f"{n} {e.version}" for n, e in sorted(models.items())) + f" ({manifest.parent.name})"


def check_disk(cfg: AgentConfig) -> str:
    d = cfg.outbox.path.parent
    d.mkdir(parents=True, exist_ok=True)
    probe = d / ".check-write"
    probe.write_text("x")
    probe.unlink()
    free = shutil.disk_usage(d).free // 2**20
    if free < MIN_FREE_MB:
        raise CheckFailed(f"only {free} MB free at {d} (outbox needs room for broker outages)")
    return f"{free} MB free at {d}, writable"


CHECKS: list[Check] = [("calibration", check_calibration), ("camera", check_camera), ("microphone", check_microphone),
                       ("broker", check_broker), ("clock", check_clock), ("models", check_models),
                       ("disk", check_disk)]


def run_checks(cfg: AgentConfig, checks: list[Check] | None = None, echo: Callable[[str], None] = print) -> dict:
    passed, failed = [], []
    for name, fn in checks or CHECKS:
        try:
            detail = fn(cfg)
            passed.append(name)
            echo(f"ok    {name:<11} {detail}")
        except Exception as e:  # noqa: BLE001 - every failure is reported, the next check still runs
            failed.append(name)
            echo(f"FAIL  {name:<11} {e}")
    return {"ok": not failed, "passed": passed, "failed": failed}


def main(args: argparse.Namespace) -> int:
    from edge_agent.config import load_agent_config

    try:
        cfg = load_agent_config(args.config)
        print(f"ok    {'config':<11} {args.config or '(defaults)'}: device {cfg.device.id} in "
              f"{cfg.device.site}/{cfg.device.room}, policy {cfg.policy}")
    except Exception as e:  # noqa: BLE001 - the config error is the answer
        print(f"FAIL  {'config':<11} {e}")
        print(json.dumps({"ok": False, "passed": [], "failed": ["config"]}))
        return 1
    res = run_checks(cfg)
    res["passed"].insert(0, "config")
    print(json.dumps(res))
    return 0 if res["ok"] else 1


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--config", help="agent config (default: built-in defaults + CLASSPULSE__* overrides)")
