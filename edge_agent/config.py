"""Edge agent configuration: pydantic models with ``extra="forbid"``, validated at start-up.

Loaded from YAML with ``CLASSPULSE__SECTION__KEY`` environment overrides
(see ``classpulse_contract.config_io``). Each analysis stage owns one section.
"""

from __future__ import annotations

import difflib
import os
import re
from datetime import time
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from classpulse_contract.config_io import load_config
from edge_agent.vision.cpface import OUR_MIN_SCORE
from edge_agent.vision.faces import DEFAULT_FACE_BACKEND, GRAPH_MIN_SCORE, FaceBackend

ENV_PREFIX = "CLASSPULSE"
_IDENT = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def _ident(v: str) -> str:
    if not _IDENT.fullmatch(v):
        raise ValueError(f"{v[:70]!r}: must be lowercase letters, digits and dashes (underscores allowed), "
                         "starting with a letter or digit, at most 64 characters, e.g. cp-north-r101")
    return v


def time_zone(v: str) -> str:
    """An IANA zone name the agent can load (a misspelt one would only fail at the first window)."""
    try:
        ZoneInfo(v)
        return v
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    close = difflib.get_close_matches(v, sorted(available_timezones()), n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    raise ValueError(f"unknown time zone {v[:70]!r}: {hint}use an IANA name such as Europe/London, "
                     "Asia/Shanghai or UTC")


Ident = Annotated[str, AfterValidator(_ident)]

#: The agent's unit passes the box's credentials folder whole (``LoadCredential=classpulse:/etc/classpulse/
#: credentials``): systemd copies each file to ``$CREDENTIALS_DIRECTORY/classpulse_<name>``, readable by the
#: service's dynamic user only, and a missing optional file (the client key) does not stop the unit.
CREDENTIALS_ID = "classpulse"


def service_copy(p: Path | None) -> Path | None:
    """Inside the service, systemd's copy of a credential file the service cannot read itself (root's, 0700)."""
    d = os.environ.get("CREDENTIALS_DIRECTORY")
    if p is None or not d or os.access(p, os.R_OK):
        return p
    copy = Path(d) / f"{CREDENTIALS_ID}_{p.name}"
    return copy if copy.is_file() else p


CredentialFile = Annotated[Path | None, AfterValidator(service_copy)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeviceConfig(_Section):
    id: Ident = "demo-device"
    site: Ident = "demo-school"
    room: Ident = "room-101"


class TlsConfig(_Section):
    ca_file: Path
    cert_file: CredentialFile = Field(None, description="client certificate (enrolment writes it)")
    key_file: CredentialFile = Field(None, description="client key (made on this box, 0600)")
    insecure_skip_verify: bool = False


class MqttConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password_file: CredentialFile = Field(None, description="file holding the password (0600; the service "
                                          "reads systemd's copy, see service_copy)")
    tls: TlsConfig | None = None
    keepalive_s: int = Field(30, ge=5, le=600)
    qos: Literal[1] = 1
    reconnect_min_s: float = Field(1.0, gt=0)
    reconnect_max_s: float = Field(60.0, gt=0)


class VideoConfig(_Section):
    source: str | None = Field("camera:0", description="'camera:<index>', a device path, a video file, or null")
    width: int = Field(1920, ge=160)
    height: int = Field(1080, ge=120)
    target_fps: float = Field(1.0, gt=0, le=30)
    loop: bool = Field(False, description="a video file starts over at its end instead of ending the run (demos "
                       "that replay a recording as a live room keep one connection)")
    nice: int = Field(5, ge=0, le=19, description="how much lower the vision thread's CPU priority is than "
                      "the agent's, so a short CPU slows frames (reported as coverage) and never the microphone")


class AudioConfig(_Section):
    source: str | None = Field("mic:default", description="'mic:default', 'mic:<index|name>', an audio file, or null")
    sample_rate: int = Field(16000, ge=8000, le=48000)
    chunk_s: float = Field(0.5, gt=0, le=5)
    loop: bool = Field(False, description="an audio file starts over at its end (see video.loop)")


class VisionConfig(_Section):
    face_detector: FaceBackend = Field(DEFAULT_FACE_BACKEND, description="the face model: ours (default; our own "
                                       "detector, models/faces, at the frame's resolution on two overlapping halves; "
                                       "issue #22), litert (MediaPipe's full-range model decoded here on a whole + "
                                       "3x3 grid, the default before) or mediapipe (its graph; finds no faces on "
                                       "emulated aarch64, issue #17). After switching, re-run calibrate-camera "
                                       "--face-detector X: the board directions depend on the pose path")
    min_detection_confidence: float = Field(OUR_MIN_SCORE, ge=0, le=1, description="lowest face score kept; "
                                            "unset: the detector's own (ours 0.51; litert 0.6, the score "
                                            "MediaPipe's graph keeps, which ignores this setting)")
    tiles: list[tuple[int, int]] = Field(default_factory=lambda: [(2, 1)], description="grids to run, e.g. "
                                         "[[1,1],[3,3]]; unset: [[2,1]] for ours (two overlapping halves: the "
                                         "whole frame finds the same faces but its buffers cost ~70 MB more at "
                                         "1080p), [[1,1],[3,3]] for MediaPipe's model")
    tile_overlap: float = Field(0.2, ge=0, lt=0.9)
    refine_small_faces: bool = Field(False, description="split a tile into 2x2 where it held small faces (MediaPipe's "
                                     "model on wider_dev: recall 0.601 -> 0.644 at precision 0.950, 1.4x time); "
                                     "unset: on for MediaPipe's model, off for ours")
    face_target_px: float = Field(24.0, ge=8, le=96, description="face width in the detector's input that "
                                  "perspective tiles aim for (used when the room profile has face sizes)")
    attention_cone_deg: float = Field(30.0, gt=0, le=90)
    mesh_min_face_px: float = Field(24.0, ge=8, description="faces this wide get face-mesh + solvePnP pose; "
                                    "smaller ones the detector-keypoint estimate")
    mesh_per_frame: int = Field(16, ge=0, le=200, description="face meshes per frame at most (largest first); 0 disables")
    hand_raises: bool = Field(True, description="BlazePose landmark model on face-anchored body regions")
    hand_checks_per_frame: int = Field(6, ge=1, le=64, description="person crops checked per frame, least recent first")
    turned_away: bool = Field(True, description="a face track lost while its chest region still looks the same "
                              "counts as a person not attending, not as nobody (docs/vision.md)")
    degrade: bool = Field(True, description="when a frame costs more than the frame interval, shed hand raises, "
                          "then face mesh, then expression before frames are dropped (docs/vision.md)")
    pose_keypoints: Literal["mediapipe", "detector"] = Field("mediapipe", description="face_detector ours: "
                                                             "keypoints for the head pose of faces without a mesh: "
                                                             "mediapipe (its full-range model on an upscaled crop "
                                                             "of each such face) or detector (ours, coarser)")
    face_flip_tta: bool = Field(True, description="face_detector ours: also run the mirrored frame and average "
                                "the two cell by cell (fewer false faces at the same recall; 2x its time)")
    expression_flip_tta: bool = Field(True, description="policy full: also classify the mirrored face and average "
                                      "(+0.8 accuracy points on FER2013 PublicTest for a second ~0.2 ms per face)")

    @model_validator(mode="after")
    def _backend_defaults(self) -> VisionConfig:
        """What the config leaves unset follows the detector: ours sees the frame at its own resolution
        (two halves for memory, no refinement); MediaPipe's 192 px model needs the 3x3 grid and refinement."""
        if self.face_detector != "ours":
            for name, value in (("tiles", [(1, 1), (3, 3)]), ("refine_small_faces", True),
                                ("min_detection_confidence", GRAPH_MIN_SCORE)):
                if name not in self.model_fields_set:
                    object.__setattr__(self, name, value)
        return self


class VadConfig(_Section):
    """Voice activity; defaults measured on ../shared/data/vad (see bench/README.md, Audio)."""

    engine: Literal["silero", "energy"] = Field("silero", description="silero falls back to energy if its model is missing")
    frame_ms: int = Field(10, ge=10, le=10, description="output frame; fixed at 10 ms (reference labels' grid)")
    threshold: float = Field(0.5, gt=0, lt=1, description="Silero probability to enter speech")
    neg_threshold: float = Field(0.35, gt=0, lt=1, description="probability below which speech may end")
    min_silence_ms: int = Field(100, ge=0, le=2000, description="hangover before speech ends")
    min_speech_ms: int = Field(60, ge=10, le=1000, description="shorter blips are dropped")
    gate_db: float = Field(10.0, ge=0, le=40, description="frame must be this far above the noise floor to start speech")
    stay_gate_db: float = Field(3.5, ge=0, le=40, description="... and this far to continue it")
    noise_floor_dbfs: float | None = Field(None, description="from calibration; estimated on the fly when null")
    level_target_dbfs: float | None = Field(-8.0, ge=-40, le=0, description="Silero sees the signal with its loud end "
                                            "lifted to this level (soft voices are scored late otherwise); null = off")
    max_gain_db: float = Field(18.0, ge=0, le=40, description="most gain the level normalisation applies")
    tone_min_speech_s: float = Field(2.0, gt=0, le=10, description="speech collected before one tone prediction")
    overlap: bool = Field(False, description="estimate crosstalk (overlap_share) from pitch cues; off by default: "
                          "on held-out audio its error is too large to publish (bench/README.md, Audio)")

    @model_validator(mode="after")
    def _hysteresis(self) -> VadConfig:
        if self.neg_threshold > self.threshold:
            raise ValueError("neg_threshold must not exceed threshold")
        if self.stay_gate_db > self.gate_db:
            raise ValueError("stay_gate_db must not exceed gate_db")
        return self


class EngagementWeights(_Section):
    """Weights of the engagement index; see docs/engagement.md for the rationale."""

    attention: float = Field(0.5, ge=0)
    participation: float = Field(0.2, ge=0)
    speech: float = Field(0.15, ge=0)
    valence: float = Field(0.15, ge=0)


class CoverageConfig(_Section):
    """When a signal counts as measured in a window (docs/engagement.md, "Coverage").

    Below ``min_share`` a signal's fields are published as null with ``vision_starved``/``audio_starved``
    instead of numbers from a few seconds of a minute. 0.5 is the same bar a live window must clear to be
    published at all: a majority of the window stands for the window; less is a sample of a moment.
    """

    min_share: float = Field(0.5, gt=0, le=1, description="least share of the window a signal must cover")
    frame_reach_s: float = Field(5.0, gt=0, le=60, description="an analysed frame stands for this many seconds "
                                 "either side (class-level attention moves over tens of seconds, so one frame "
                                 "every 10 s still covers the window)")
    min_frames: int = Field(3, ge=1, le=600, description="fewer analysed frames than this: vision is starved")
    min_engagement_weight: float = Field(0.5, gt=0, le=1, description="share of the index weight this box is "
                                         "set up to measure that the measured signals must carry")


class Period(_Section):
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(min_length=1)
    start: time
    end: time

    @field_validator("start", "end", mode="before")
    @classmethod
    def _quoted(cls, v: object) -> object:
        # YAML 1.1 reads an unquoted 10:15 as the number 615, which would become 00:10:15
        if isinstance(v, int | float):
            raise ValueError("write the time in quotes as 'HH:MM', e.g. '08:30' (YAML reads an unquoted "
                             "8:30 as the number 510)")
        return v

    @model_validator(mode="after")
    def _order(self) -> Period:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class ScheduleConfig(_Section):
    """Sensing happens only inside these periods (local time of ``timezone``)."""

    timezone: Annotated[str, AfterValidator(time_zone)] = "UTC"
    always: bool = Field(False, description="sense at all times; only for demos and tests")
    periods: list[Period] = Field(default_factory=list)


class OutboxConfig(_Section):
    path: Path = Path("data/edge/outbox.db")
    max_messages: int = Field(100_000, ge=10)
    confirm_timeout_s: float = Field(30.0, gt=0, le=3600, description="send an aggregate again when the "
                                     "aggregator has not confirmed it this long after the broker's PUBACK")
    ack_fallback_s: float = Field(600.0, gt=0, description="no aggregator ack this long while rows wait: "
                                  "fall back to broker PUBACKs (an aggregator older than contract 1.2)")
    max_unconfirmed: int = Field(64, ge=1, le=200, description="aggregates sent but not yet confirmed, at most "
                                 "(below the 256 msg_ids an ack lists)")


class ModelsConfig(_Section):
    manifest: Path | None = Field(None, description="a fixed manifest.json; null: the installed signed release "
                                  "under `dir` if there is one, else the models shipped with the agent")
    threads: int = Field(1, ge=1, le=8)
    dir: Path | None = Field(None, description="where signed model releases are installed (model_update); "
                             "e.g. /var/lib/classpulse/models")
    trusted_keys: list[Path] = Field(default_factory=list, description="files of Ed25519 public keys (base64, "
                                     "one per line) whose signatures model bundles must carry")
    max_download_mb: int = Field(64, ge=1, le=512)
    probation_s: float = Field(300.0, ge=1, description="a new release is confirmed after running this long; "
                               "until then every start counts")
    max_unconfirmed_starts: int = Field(3, ge=1, le=20, description="starts of an unconfirmed release before "
                                        "the agent returns to the previous one (crash loop after an update)")


class AgentConfig(_Section):
    device: DeviceConfig = Field(default_factory=DeviceConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    policy: Literal["full", "no-emotion", "off"] = "no-emotion"
    k_anonymity: int = Field(5, ge=2, le=100)
    window_s: float = Field(60.0, ge=5, le=600)
    health_interval_s: float = Field(60.0, ge=5)
    video: VideoConfig = Field(default_factory=VideoConfig)
    audio: AudioConfig = Field(default_factory=AudioConfig)
    vision: VisionConfig = Field(default_factory=VisionConfig)
    vad: VadConfig = Field(default_factory=VadConfig)
    engagement: EngagementWeights = Field(default_factory=EngagementWeights)
    coverage: CoverageConfig = Field(default_factory=CoverageConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    calibration: Path | None = Field(None, description="calibration/<room>.yaml")

    @field_validator("window_s")
    @classmethod
    def _whole_seconds(cls, v: float) -> float:
        if v != int(v):
            raise ValueError("window_s must be a whole number of seconds")
        return v


def load_agent_config(path: str | Path | None) -> AgentConfig:
    return load_config(AgentConfig, path, ENV_PREFIX)
