"""``edge-agent check``: a pre-flight for IT staff, one line per check, then one JSON object.

Run it on the box after enrolment and before walking away (``edge-agent check --config
/etc/classpulse/agent.yaml``); exit status 1 when anything failed. It reads one frame and
half a second of sound to prove the devices work, and drops both at once: nothing is stored.
"""

from __future__ import annotations

import argparse
import grp
import json
import logging
import os
import re
import shutil
import stat
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from edge_agent.config import AgentConfig

Check = tuple[str, Callable[[AgentConfig], str]]
#: Below this much free space on the outbox's disk the box cannot buffer a long broker outage.
MIN_FREE_MB = 200
#: The service's supplementary groups (systemd/classpulse-agent.service: SupplementaryGroups=).
SERVICE_GROUPS = ("video", "audio")
#: A Pi 4/5 starts throttling at 80-85 °C; above this the box needs air before it is left in a room.
MAX_TEMP_C = 80.0


class CheckFailed(Exception):
    pass


def check_calibration(cfg: AgentConfig) -> str:
    if cfg.calibration is None:
        return "no room profile (attention uses the default board direction; run calibrate-camera)"
    from calibration.profile import load_profile
    from edge_agent.config_check import detector_note

    p = load_profile(cfg.calibration)
    note = detector_note(p.camera, cfg.vision.face_detector, cfg.calibration)
    return (f"{len(p.camera.zones)} zones, seated area {'set' if p.camera.seated_area else 'not set'}"
            + (f"; {note}" if note else ""))


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


def device_nodes(cfg: AgentConfig) -> list[Path]:
    """The device nodes the configured sources open (none for files and for no source)."""
    nodes: list[Path] = []
    v = cfg.video.source or ""
    if m := re.fullmatch(r"camera:(\d+)", v):
        nodes.append(Path(f"/dev/video{m.group(1)}"))
    elif v.startswith("/dev/"):
        nodes.append(Path(v))
    if (cfg.audio.source or "").startswith("mic:"):
        nodes += sorted(Path("/dev/snd").glob("pcmC*D*c")) or [Path("/dev/snd")]
    return nodes


def access_problem(node: Path, groups: tuple[str, ...] = SERVICE_GROUPS) -> str | None:
    """Why a service user that has only ``groups`` could not open ``node`` read-write (None: it can)."""
    try:
        st = node.stat()
    except OSError as e:
        return f"{node}: {e.strerror.lower() if e.strerror else e}"
    if stat.S_ISDIR(st.st_mode):
        return f"{node}: no capture device inside"
    if st.st_mode & 0o006 == 0o006:
        return None  # world read-write
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    if group not in groups:
        return f"{node} belongs to group {group!r}, the service runs in {', '.join(groups)}"
    if st.st_mode & 0o060 != 0o060:
        return f"{node} is not read-write for group {group!r} (mode {stat.filemode(st.st_mode)})"
    return None


def check_groups(cfg: AgentConfig) -> str:
    missing = [g for g in SERVICE_GROUPS if not _group_exists(g)]
    if missing:
        raise CheckFailed(f"group(s) {', '.join(missing)} do not exist; the service unit needs them")
    nodes = device_nodes(cfg)
    problems = [p for p in map(access_problem, nodes) if p]
    if problems:
        raise CheckFailed("; ".join(problems))
    mine = {grp.getgrgid(g).gr_name for g in os.getgroups() if _gid_known(g)}
    note = "" if os.geteuid() == 0 or set(SERVICE_GROUPS) <= mine else \
        f" (you are not in {', '.join(sorted(set(SERVICE_GROUPS) - mine))}: the camera/mic checks above ran as you)"
    what = ", ".join(str(n) for n in nodes) if nodes else "no device nodes (file or no sources)"
    return f"{what}: usable by groups {', '.join(SERVICE_GROUPS)}" + note


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def _gid_known(gid: int) -> bool:
    try:
        grp.getgrgid(gid)
        return True
    except KeyError:
        return False


def check_temperature(cfg: AgentConfig) -> str:
    from edge_agent.health import cpu_temp_c

    t = cpu_temp_c()
    if t is None:
        return "no thermal sensor readable (expected on a Pi or Jetson: /sys/class/thermal)"
    if t > MAX_TEMP_C:
        raise CheckFailed(f"{t:.0f} °C: the CPU will throttle; give the box air (case, fan) before leaving it")
    return f"{t:.0f} °C"


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
                       ("groups", check_groups), ("broker", check_broker), ("clock", check_clock),
                       ("models", check_models), ("disk", check_disk), ("temperature", check_temperature)]


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
    from edge_agent.config_check import load_checked

    if not getattr(args, "verbose", False):  # the sources' retry warnings repeat what the verdict lines say
        logging.getLogger("edge_agent.sources").setLevel(logging.ERROR)
    try:
        cfg = load_checked(args.config)
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
