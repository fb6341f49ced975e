"""Wire contract v1: the only shapes that cross the network between edge and cloud.

Both the edge agent and the cloud aggregator import this module; it needs only
pydantic. Every message is a JSON object with ``schema`` and ``version``.

Compatibility rule (see docs/wire-contract.md):
* ``version`` is ``"1.<minor>"``. A reader accepts any ``1.x``; a different major
  is rejected.
* A message whose minor is at most ``CONTRACT_MINOR`` is validated strictly:
  unknown fields are rejected.
* Numbers are strict JSON numbers: ``true`` is not 1 and ``"1"`` is not a number; integer fields
  take integers only.
* A message with a *newer* minor may only have added optional fields; a reader
  drops the fields it does not know (listing them in ``ignored_fields``) and
  validates the rest strictly. Renaming, removing or changing the meaning of a
  field needs a new major version and a new topic prefix (``classpulse/v2``).
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

CONTRACT_MAJOR = 1
#: 1.1 (additive): per-signal coverage (``vision_coverage``, ``audio_coverage``, ``vision_level``),
#: ``coverage_flags`` and null counts for signals the device did not measure; see docs/wire-contract.md.
#: 1.2 (additive): end-to-end acknowledgement (``ack`` topic, ``Ack``) and outbox confirmation in health.
CONTRACT_MINOR = 2
CONTRACT_VERSION = f"{CONTRACT_MAJOR}.{CONTRACT_MINOR}"
TOPIC_ROOT = "classpulse/v1"
#: Largest payload either side accepts. A real aggregate is under 2 KiB.
MAX_PAYLOAD_BYTES = 16 * 1024
#: Longest window an aggregate may cover.
MAX_WINDOW = timedelta(minutes=10)
#: Smallest k the contract allows; devices default to 5.
MIN_K_ANONYMITY = 2

#: FER order, used by the expression model and in ``expression_mix``.
EXPRESSION_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
#: Voice-tone model classes (EmoDB), used in ``tone_mix``.
TONE_CLASSES: tuple[str, ...] = ("angry", "boredom", "disgust", "fear", "happy", "neutral", "sad")

#: Site, room, zone and device ids: the one pattern topics and payloads use (enrolment checks new devices with it).
ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
Ident = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Share = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False, strict=True)]
Signed = Annotated[float, Field(ge=-1.0, le=1.0, allow_inf_nan=False, strict=True)]
ShortText = Annotated[str, StringConstraints(max_length=64)]
#: What the aggregator may ask a device to do (``Command.command``).
CommandName = Literal["ping", "reload_config", "set_policy", "model_update"]

KINDS = ("agg", "status", "health", "cmd", "cmd/result", "ack")
#: Most msg_ids one ack lists: more than a device keeps unconfirmed in flight (edge_agent outbox window).
MAX_ACK_IDS = 256
_TOPIC_RE = re.compile(
    r"^classpulse/v1/(?P<site>[a-z0-9][a-z0-9_-]{0,63})/(?P<room>[a-z0-9][a-z0-9_-]{0,63})"
    r"/(?P<device>[a-z0-9][a-z0-9_-]{0,63})/(?P<kind>agg|status|health|cmd|cmd/result|ack)$"
)


class ContractError(ValueError):
    """A payload or topic that does not meet the contract; ``reason`` is for humans."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class PolicyMode(str, Enum):
    """What the device may infer. ``no-emotion`` runs no expression or tone model at all."""

    FULL = "full"
    NO_EMOTION = "no-emotion"
    OFF = "off"


class QualityFlag(str, Enum):
    NO_CAMERA = "no_camera"
    DARK = "dark"
    OVEREXPOSED = "overexposed"
    BLURRED = "blurred"
    FROZEN = "frozen"
    NO_MIC = "no_mic"
    CLIPPED = "clipped"
    SILENT = "silent"
    DC_OFFSET = "dc_offset"
    FRAMES_DROPPED = "frames_dropped"
    AUDIO_OVERFLOW = "audio_overflow"
    PARTIAL_WINDOW = "partial_window"


class CoverageFlag(str, Enum):
    """Contract 1.1: why a signal's fields are null or less complete (kept apart from ``quality`` so a 1.0
    reader, which validates ``quality`` strictly, ignores them instead of refusing the window)."""

    VISION_STARVED = "vision_starved"  # the vision stage analysed too little of the window: its fields are null
    AUDIO_STARVED = "audio_starved"  # the audio stage analysed too little of the window: its fields are null
    VISION_DEGRADED = "vision_degraded"  # the vision stage shed optional work (``vision_level`` > 0)


def topic(site: str, room: str, device: str, kind: str) -> str:
    """Build the MQTT topic for one device and message kind."""
    if kind not in KINDS:
        raise ContractError(f"unknown topic kind {kind!r}")
    t = f"{TOPIC_ROOT}/{site}/{room}/{device}/{kind}"
    if not _TOPIC_RE.match(t):
        raise ContractError(f"invalid identifiers in topic {t!r}")
    return t


def parse_topic(t: str) -> dict[str, str]:
    """Split a topic into site/room/device/kind, or raise ContractError."""
    m = _TOPIC_RE.match(t)
    if not m:
        raise ContractError(f"topic {t[:200]!r} is not classpulse/v1/<site>/<room>/<device>/<kind>")
    return m.groupdict()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=256)


class ZoneStat(_Strict):
    """Attention in one seating zone; ``attention_share`` is null when the zone has fewer than k faces."""

    zone: Ident
    n_faces: int = Field(strict=True, ge=0, le=500)
    attention_share: Share | None = None


def _check_mix(mix: dict[str, float] | None, classes: tuple[str, ...], name: str) -> None:
    if mix is None:
        return
    unknown = set(mix) - set(classes)
    if unknown:
        raise ValueError(f"{name} has unknown classes {sorted(unknown)}")
    total = sum(mix.values())
    if not math.isclose(total, 1.0, abs_tol=0.02):
        raise ValueError(f"{name} must sum to 1 (got {total:.3f})")


class Aggregate(_Strict):
    """One window of anonymous class-level measurements from one device."""

    schema_: Literal["classpulse.agg"] = Field("classpulse.agg", alias="schema")
    version: Annotated[str, StringConstraints(pattern=r"^1\.\d{1,3}$")] = CONTRACT_VERSION
    msg_id: int = Field(strict=True, ge=0, le=2**53)
    site: Ident
    room: Ident
    device: Ident
    window_start: datetime
    window_end: datetime
    policy: Literal["full", "no-emotion"]
    k_anonymity: int = Field(strict=True, ge=MIN_K_ANONYMITY, le=100)
    #: null (1.1) when the vision stage did not analyse enough of the window; 0 means it looked and saw nobody
    n_faces: int | None = Field(strict=True, ge=0, le=500)
    attention_share: Share | None = None
    pose_unknown_share: Share | None = None
    expression_mix: dict[ShortText, Share] | None = Field(None, max_length=len(EXPRESSION_CLASSES))
    expression_valence: Signed | None = None
    expression_arousal: Signed | None = None
    hand_raises: int | None = Field(0, strict=True, ge=0, le=10_000)  # null (1.1): vision not measured
    speech_share: Share | None = None
    speech_turns: int | None = Field(0, strict=True, ge=0, le=10_000)  # null (1.1): audio not measured
    longest_silence_s: float | None = Field(None, strict=True, ge=0.0, le=600.0, allow_inf_nan=False)
    overlap_share: Share | None = None
    teacher_talk_share: Share | None = None
    tone_mix: dict[ShortText, Share] | None = Field(None, max_length=len(TONE_CLASSES))
    tone_valence: Signed | None = None
    tone_arousal: Signed | None = None
    engagement: Share | None = None
    zones: list[ZoneStat] | None = Field(None, max_length=32)
    frames_processed: int = Field(0, strict=True, ge=0, le=1_000_000)
    model_versions: dict[ShortText, ShortText] = Field(default_factory=dict, max_length=16)
    quality: list[QualityFlag] = Field(default_factory=list, max_length=len(QualityFlag))
    # --- contract 1.1 (optional; a 1.0 message has none of them) ---
    #: share of the window within reach of an analysed frame (null: no camera configured)
    vision_coverage: Share | None = None
    #: seconds of audio the audio stage analysed over the window's length (null: no microphone configured)
    audio_coverage: Share | None = None
    #: highest vision degradation level in the window (0 = full work; docs/vision.md lists the levels)
    vision_level: int | None = Field(None, strict=True, ge=0, le=16)
    coverage_flags: list[CoverageFlag] = Field(default_factory=list, max_length=len(CoverageFlag))

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, str_max_length=256)

    @field_validator("window_start", "window_end")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        if v.tzinfo is None or v.utcoffset() is None:
            raise ValueError("must carry a UTC offset (ISO 8601 with Z or +00:00)")
        return v.astimezone(timezone.utc)

    @model_validator(mode="after")
    def _consistent(self) -> Aggregate:
        if self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start")
        nulls = [f for f in ("n_faces", "hand_raises", "speech_turns") if getattr(self, f) is None]
        if nulls and self.version == "1.0":
            raise ValueError(f"{', '.join(nulls)} may be null (not measured) only from contract 1.1")
        if self.window_end - self.window_start > MAX_WINDOW:
            raise ValueError(f"window longer than {MAX_WINDOW}")
        emotional = (self.expression_mix, self.expression_valence, self.expression_arousal)
        if self.policy == "no-emotion" and any(
            x is not None for x in (*emotional, self.tone_mix, self.tone_valence, self.tone_arousal)
        ):
            raise ValueError("policy no-emotion forbids expression and tone fields")
        if any(x is not None for x in emotional) and (self.n_faces is None or self.n_faces < self.k_anonymity):
            raise ValueError(f"expression fields need at least k={self.k_anonymity} faces")
        for z in self.zones or ():
            if z.attention_share is not None and z.n_faces < self.k_anonymity:
                raise ValueError(f"zone {z.zone} has attention with fewer than k faces")
        _check_mix(self.expression_mix, EXPRESSION_CLASSES, "expression_mix")
        _check_mix(self.tone_mix, TONE_CLASSES, "tone_mix")
        return self


class Status(_Strict):
    """Retained device availability; ``offline`` is also the MQTT last will."""

    schema_: Literal["classpulse.status"] = Field("classpulse.status", alias="schema")
    version: Annotated[str, StringConstraints(pattern=r"^1\.\d{1,3}$")] = CONTRACT_VERSION
    device: Ident
    state: Literal["online", "offline"]
    ts: datetime | None = None
    agent_version: ShortText | None = None
    policy: Literal["full", "no-emotion", "off"] | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Health(_Strict):
    """Periodic device health for the IT fleet view."""

    schema_: Literal["classpulse.health"] = Field("classpulse.health", alias="schema")
    version: Annotated[str, StringConstraints(pattern=r"^1\.\d{1,3}$")] = CONTRACT_VERSION
    device: Ident
    ts: datetime
    uptime_s: float = Field(strict=True, ge=0)
    cpu_load: float | None = Field(None, strict=True, ge=0)
    cpu_temp_c: float | None = Field(None, strict=True, ge=-40, le=150)
    mem_mb: float | None = Field(None, strict=True, ge=0)
    disk_free_mb: float | None = Field(None, strict=True, ge=0)
    fps: float | None = Field(None, strict=True, ge=0)
    frames_dropped: int = Field(0, strict=True, ge=0)
    outbox_depth: int = Field(0, strict=True, ge=0)
    outbox_dropped: int = Field(0, strict=True, ge=0)
    #: 1.2: age of the oldest aggregate the aggregator has not confirmed yet (null: outbox empty)
    outbox_oldest_unconfirmed_s: float | None = Field(None, strict=True, ge=0, allow_inf_nan=False)
    #: 1.2: "aggregator" once end-to-end acks are seen, "broker" while only PUBACKs count (older aggregator)
    delivery_confirmation: Literal["aggregator", "broker"] | None = None
    camera_ok: bool | None = None
    mic_ok: bool | None = None
    sensing: bool = False
    policy: Literal["full", "no-emotion", "off"] = "full"
    clock_offset_s: float | None = None
    model_versions: dict[ShortText, ShortText] = Field(default_factory=dict, max_length=16)
    last_model_update: ShortText | None = None
    quality: list[QualityFlag] = Field(default_factory=list, max_length=len(QualityFlag))
    # --- contract 1.1 (optional) ---
    #: frames per second the vision stage is set to analyse; ``fps`` below it means the box is behind
    target_fps: float | None = Field(None, strict=True, gt=0, le=30)
    #: the vision stage's current degradation level (0 = full work) and its name
    vision_level: int | None = Field(None, strict=True, ge=0, le=16)
    vision_level_name: ShortText | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Command(_Strict):
    """An authorised command to one device on its ``cmd`` topic."""

    schema_: Literal["classpulse.cmd"] = Field("classpulse.cmd", alias="schema")
    version: Annotated[str, StringConstraints(pattern=r"^1\.\d{1,3}$")] = CONTRACT_VERSION
    cmd_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    command: CommandName
    args: dict[ShortText, Any] = Field(default_factory=dict, max_length=8)
    issued_at: datetime

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CommandResult(_Strict):
    schema_: Literal["classpulse.cmd_result"] = Field("classpulse.cmd_result", alias="schema")
    version: Annotated[str, StringConstraints(pattern=r"^1\.\d{1,3}$")] = CONTRACT_VERSION
    cmd_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    device: Ident
    ok: bool
    detail: Annotated[str, StringConstraints(max_length=1024)] = ""
    ts: datetime

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Ack(_Strict):
    """1.2, cloud -> device, retained, after commit: the device's msg_ids the aggregator has committed lately
    (stored, a duplicate of a stored one, or dead-lettered with a reason); the device may then forget them."""

    schema_: Literal["classpulse.ack"] = Field("classpulse.ack", alias="schema")
    version: Annotated[str, StringConstraints(pattern=r"^1\.\d{1,3}$")] = CONTRACT_VERSION
    device: Ident
    ts: datetime
    msg_ids: list[Annotated[int, Field(strict=True, ge=0, le=2**53)]] = Field(max_length=MAX_ACK_IDS)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


MESSAGE_TYPES: dict[str, type[_Strict]] = {
    "classpulse.agg": Aggregate,
    "classpulse.status": Status,
    "classpulse.health": Health,
    "classpulse.cmd": Command,
    "classpulse.cmd_result": CommandResult,
    "classpulse.ack": Ack,
}
KIND_SCHEMA = {
    "agg": "classpulse.agg",
    "status": "classpulse.status",
    "health": "classpulse.health",
    "cmd": "classpulse.cmd",
    "cmd/result": "classpulse.cmd_result",
    "ack": "classpulse.ack",
}


def _describe(err: ValidationError) -> str:
    parts = []
    for e in err.errors()[:5]:
        loc = ".".join(str(x) for x in e["loc"]) or "(message)"
        parts.append(f"{loc}: {e['msg']}")
    return "; ".join(parts)


def parse_message(payload: bytes | str, expected_schema: str | None = None) -> tuple[_Strict, list[str]]:
    """Parse and validate one payload; return (message, ignored_fields).

    Raises ContractError with a plain reason for anything that is not a valid v1 message.
    """
    raw = payload.encode() if isinstance(payload, str) else payload
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise ContractError(f"payload of {len(raw)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ContractError(f"not JSON: {e}") from None
    if not isinstance(data, dict):
        raise ContractError("payload must be a JSON object")
    schema = data.get("schema")
    if expected_schema is not None and schema != expected_schema:
        raise ContractError(f"schema {str(schema)[:64]!r} where {expected_schema!r} was expected")
    model = MESSAGE_TYPES.get(schema) if isinstance(schema, str) else None
    if model is None:
        raise ContractError(f"unknown schema {str(schema)[:64]!r}")
    version = data.get("version")
    if not isinstance(version, str) or not re.fullmatch(r"\d{1,3}\.\d{1,3}", version):
        raise ContractError("version must be a string 'MAJOR.MINOR'")
    major, minor = (int(x) for x in version.split("."))
    if major != CONTRACT_MAJOR:
        raise ContractError(f"major version {major} is not supported (reader speaks {CONTRACT_VERSION})")
    ignored: list[str] = []
    if minor > CONTRACT_MINOR:
        known = {f.alias or name for name, f in model.model_fields.items()}
        ignored = sorted(k for k in data if k not in known)
        data = {k: v for k, v in data.items() if k in known}
    try:
        msg = model.model_validate(data)
    except ValidationError as e:
        raise ContractError(_describe(e)) from None
    return msg, ignored


def parse_aggregate(payload: bytes | str) -> Aggregate:
    msg, _ = parse_message(payload, "classpulse.agg")
    assert isinstance(msg, Aggregate)  # noqa: S101 - narrowed by expected_schema
    return msg


def dumps(msg: _Strict) -> bytes:
    """Serialise a message the one way both sides expect (aliases, ISO 8601 UTC, no nulls dropped)."""
    return msg.model_dump_json(by_alias=True).encode()


def json_schemas() -> dict[str, dict]:
    """JSON Schema of every message type, keyed by file name under classpulse_contract/schema/."""
    return {
        f"{name.split('.', 1)[1]}.v1.json": model.model_json_schema(by_alias=True)
        for name, model in MESSAGE_TYPES.items()
    }
