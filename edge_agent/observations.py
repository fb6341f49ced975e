"""What the analysis stages hand to the window: per-frame and per-chunk observations.

These live only in memory, for one window at most. They hold no pixels and no
samples: boxes, angles, class probabilities and counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, slots=True)
class FaceObservation:
    """One face in one frame. ``track_id`` is ephemeral (reset every window)."""

    box: tuple[float, float, float, float]  # x, y, w, h in pixels of the full frame
    score: float
    track_id: int | None = None
    yaw: float | None = None
    pitch: float | None = None
    roll: float | None = None
    attentive: bool | None = None  # None: pose unknown (face too small or no landmarks)
    zone: str | None = None
    expression: np.ndarray | None = None  # probabilities in EXPRESSION_CLASSES order
    #: False: no face seen, but the person is still there (turned away; see docs/vision.md). Such an
    #: entry has no pose, ``attentive=False`` (counts against attention) and no expression.
    facing: bool = True


@dataclass(frozen=True, slots=True)
class FrameObservation:
    ts: float  # seconds since the epoch (wall clock, or media time in replay)
    faces: tuple[FaceObservation, ...] = ()
    hands_raised: tuple[int, ...] = ()  # track ids (or face indices) with a raised hand in this frame
    quality: frozenset[str] = frozenset()
    width: int = 0
    height: int = 0
    #: The vision stage's degradation level for this frame (0 = full work; edge_agent/vision/degrade.py),
    #: its name, and the optional work it did not do on this frame ("hand_raises", "face_mesh", "expression").
    degradation_level: int = 0
    degradation: str = "full"
    shed: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class AudioObservation:
    """One chunk of audio reduced to voice activity and tone; the samples are already gone."""

    ts: float  # start of the chunk, seconds since the epoch
    duration_s: float
    speech: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # per VAD frame
    frame_s: float = 0.01
    tone: np.ndarray | None = None  # probabilities in TONE_CLASSES order, for speech in this chunk
    tone_weight: float = 0.0  # seconds of speech the tone estimate covers
    teacher: np.ndarray | None = None  # per VAD frame, True where the teacher is estimated to talk
    overlap: np.ndarray | None = None  # per VAD frame, True where crosstalk is estimated
    quality: frozenset[str] = frozenset()
