"""The per-room calibration profile: where students sit, where the board is, how loud the empty room is.

A profile is small YAML written by the set-up tools (``edge-agent calibrate-camera``,
``edge-agent calibrate-audio``) or by hand, validated here at load time with
``extra="forbid"`` so a typo fails at start-up instead of silently using
defaults. Areas are fractions of the frame (x, y, w, h in 0..1) so a profile
survives a change of capture resolution. It holds numbers only: no image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Area = tuple[float, float, float, float]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_area(v: Area) -> Area:
    x, y, w, h = v
    if not (0 <= x < 1 and 0 <= y < 1 and 0 < w <= 1 and 0 < h <= 1 and x + w <= 1.0001 and y + h <= 1.0001):
        raise ValueError(f"area {v} must be x, y, w, h fractions of the frame inside [0, 1]")
    return v


class Direction(_Section):
    """Where an attentive face points, seen from the camera (degrees; yaw > 0 toward image right, pitch > 0 up)."""

    yaw_deg: float = Field(0.0, ge=-90, le=90)
    pitch_deg: float = Field(0.0, ge=-90, le=90)


class Zone(_Section):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    area: Area
    board: Direction | None = Field(None, description="this zone's board direction; the camera default if null")

    _area = field_validator("area")(_check_area)


class CameraCalibration(_Section):
    seated_area: Area | None = Field(None, description="where faces can be; tiles cover only this")
    face_width_top: float | None = Field(None, gt=0, le=1, description="typical face width at the top of the "
                                         "seated area, as a fraction of the frame width")
    face_width_bottom: float | None = Field(None, gt=0, le=1, description="the same at its bottom")
    board: Direction = Field(default_factory=Direction)
    zones: list[Zone] = Field(default_factory=list)
    face_detector: Literal["litert", "mediapipe", "ours"] | None = Field(
        None, description="the agent's vision.face_detector when this section was measured: board directions "
        "depend on the pose path of the detector that found the faces (calibrate-camera writes it; null: "
        "not recorded)")

    @field_validator("seated_area")
    @classmethod
    def _seated(cls, v: Area | None) -> Area | None:
        return None if v is None else _check_area(v)

    @model_validator(mode="after")
    def _unique_zones(self) -> CameraCalibration:
        names = [z.name for z in self.zones]
        if len(names) != len(set(names)):
            raise ValueError("zone names must be unique")
        return self

    def zone_at(self, x: float, y: float) -> Zone | None:
        """The first zone holding the point (x, y), in frame fractions."""
        for z in self.zones:
            zx, zy, zw, zh = z.area
            if zx <= x < zx + zw and zy <= y < zy + zh:
                return z
        return None

    def board_for(self, zone: Zone | None) -> Direction:
        return zone.board if zone is not None and zone.board is not None else self.board


class TeacherReference(_Section):
    level_dbfs: float = Field(ge=-120, le=0)
    margin_db: float = Field(3.0, ge=0, le=40)


class AudioCalibration(_Section):
    noise_floor_dbfs: float | None = Field(None, ge=-120, le=0)
    teacher: TeacherReference | None = None


class RoomCalibration(_Section):
    room: str | None = None
    camera: CameraCalibration = Field(default_factory=CameraCalibration)
    audio: AudioCalibration = Field(default_factory=AudioCalibration)


def load_profile(path: str | Path) -> RoomCalibration:
    """Read and validate a profile; a clear ``ValueError`` names the file and the bad key."""
    p = Path(path)
    data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{p}: a calibration profile must be a mapping")
    try:
        return RoomCalibration.model_validate(data)
    except ValueError as e:
        raise ValueError(f"{p}: {e}") from e


def save_profile(profile: RoomCalibration, path: str | Path) -> None:
    """Write atomically, so a crash never leaves half a profile."""
    p = Path(path)
    tmp = p.with_suffix(p.suffix + ".tmp")
    tmp.write_text(yaml.safe_dump(profile.model_dump(mode="json", exclude_none=True), sort_keys=False),
                   encoding="utf-8")
    tmp.replace(p)


def merge_section(path: str | Path, section: str, value: dict) -> RoomCalibration:
    """Replace one section (``camera`` or ``audio``) of the profile at ``path``, keeping the other."""
    p = Path(path)
    current = load_profile(p).model_dump(mode="json", exclude_none=True) if p.exists() else {}
    current[section] = value
    profile = RoomCalibration.model_validate(current)
    save_profile(profile, p)
    return profile


def as_profile(calibration: RoomCalibration | dict | None) -> RoomCalibration:
    """A validated profile from whatever a caller holds (None means an uncalibrated room)."""
    if calibration is None:
        return RoomCalibration()
    if isinstance(calibration, RoomCalibration):
        return calibration
    return RoomCalibration.model_validate(calibration)
