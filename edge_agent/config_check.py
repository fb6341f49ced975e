"""What ``config check``, ``check`` and ``run`` know about a config before sensing starts.

Pydantic checks the shape (``edge_agent.config``); this module checks the config against the box:
files it names exist and can be read, the calibration profile parses, the outbox folder can be
created. Everything ``run`` would otherwise fail on minutes later is reported here, all at once,
with its key path.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from pydantic import ValidationError

from classpulse_contract.config_io import file_problems, format_errors, load_config
from edge_agent.config import ENV_PREFIX, AgentConfig
from edge_agent.vision.faces import GRAPH_MIN_SCORE

if TYPE_CHECKING:
    from calibration.profile import CameraCalibration

#: Files the agent reads at start-up (dotted key paths; list fields fan out).
INPUT_FILES = ("mqtt.password_file", "mqtt.tls.ca_file", "mqtt.tls.cert_file", "mqtt.tls.key_file",
               "models.manifest", "models.trusted_keys", "calibration")
#: Files the agent creates (their folder must be creatable and writable).
OUTPUT_FILES = ("outbox.path",)


def problems(cfg: AgentConfig) -> list[str]:
    """Every reason ``run`` would stop on this box, as ``key.path: words`` lines."""
    found = file_problems(cfg, INPUT_FILES, OUTPUT_FILES)
    if cfg.calibration is not None and not any(p.startswith("calibration:") for p in found):
        from calibration.profile import load_profile

        try:
            load_profile(cfg.calibration)
        except (ValueError, OSError, yaml.YAMLError) as e:
            cause = e.__cause__
            lines = format_errors(cause) if isinstance(cause, ValidationError) else [" ".join(str(e).split())[:200]]
            found += [f"calibration: {cfg.calibration} is not a usable room profile: {line}" for line in lines]
    return found


def notes(cfg: AgentConfig) -> list[str]:
    """Legal but probably unintended settings; printed, never fatal."""
    out = []
    if not cfg.schedule.always and not cfg.schedule.periods and cfg.policy != "off":
        out.append("schedule has no periods and always=false: the agent will never sense")
    if cfg.mqtt.tls is None and cfg.mqtt.port == 8883:
        out.append("mqtt.port 8883 is the usual TLS port but mqtt.tls is not set")
    if cfg.mqtt.tls is not None and cfg.mqtt.port == 1883:
        out.append("mqtt.tls is set but mqtt.port is 1883, the usual plain-text port")
    if cfg.mqtt.reconnect_min_s > cfg.mqtt.reconnect_max_s:
        out.append("mqtt.reconnect_min_s exceeds reconnect_max_s: every retry waits reconnect_max_s")
    out += profile_notes(cfg)
    if cfg.vision.face_detector == "mediapipe":
        if cfg.vision.min_detection_confidence != GRAPH_MIN_SCORE:
            out.append(f"vision.min_detection_confidence is ignored by face_detector mediapipe "
                       f"(its graph keeps scores >= {GRAPH_MIN_SCORE}); face_detector litert applies it")
        if platform.machine().lower() in ("aarch64", "arm64"):
            out.append("vision.face_detector mediapipe found no faces on emulated aarch64 (issue #17); "
                       "litert runs the same model, ours (the default) our own")
    return out


def _pose_path(backend: str) -> str:
    """Whose keypoints pose the faces without a mesh: litert and mediapipe run the same model."""
    return "ours" if backend == "ours" else "MediaPipe's"


def detector_note(cam: CameraCalibration, face_detector: str, path: str | Path) -> str | None:
    """Why attention would be off: the profile's board directions were measured through another
    detector's pose path (issue #22), or it does not say which; None when they agree."""
    if not cam.zones and cam.board.yaw_deg == 0 and cam.board.pitch_deg == 0:
        return None  # no board directions to disagree
    fix = (f"re-run `edge-agent calibrate-camera --face-detector {face_detector} --out {path}` "
           f"while the class faces the board")
    if cam.face_detector is None:
        return (f"calibration: the room profile does not record which face detector measured its board "
                f"directions (profiles made before issue #22 used litert); with vision.face_detector "
                f"{face_detector} attention may be off: {fix}")
    if _pose_path(cam.face_detector) != _pose_path(face_detector):
        return (f"calibration: the room profile's board directions were measured with face_detector "
                f"{cam.face_detector}, the agent runs {face_detector}: head angles differ between their "
                f"pose paths, so attention would be off; {fix}")
    return None


def profile_notes(cfg: AgentConfig) -> list[str]:
    """:func:`detector_note` for the profile the config names (an unreadable one is a problem, not a note)."""
    if cfg.calibration is None:
        return []
    from calibration.profile import load_profile

    try:
        cam = load_profile(cfg.calibration).camera
    except (ValueError, OSError, yaml.YAMLError):
        return []
    note = detector_note(cam, cfg.vision.face_detector, cfg.calibration)
    return [note] if note else []


def load_checked(path: str | Path | None) -> AgentConfig:
    """Load and validate ``path`` against this box; :class:`ConfigError` lists every problem."""
    return load_config(AgentConfig, path, ENV_PREFIX, check=problems)
