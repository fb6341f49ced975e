"""How much of a window each analysis stage actually measured (pure functions).

A signal is published only if its stage covered enough of the window
(``coverage.min_share``): a slow box that analysed two frames of a minute must not
publish a head count or an attention share as if it had watched the lesson, and a
starved microphone path must not read as silence. Coverage is measured against the
part of the window the agent was sensing (``observed``), so the first window after a
start is judged on the seconds it could have seen, and is flagged ``partial_window``
by the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edge_agent.config import CoverageConfig
from edge_agent.observations import AudioObservation, FrameObservation


@dataclass(frozen=True)
class SignalCoverage:
    """Per-signal coverage of one window; ``None`` shares mean the box has no such source."""

    vision_share: float | None
    audio_share: float | None
    vision_frames: int
    audio_s: float
    vision_ok: bool
    audio_ok: bool
    vision_level: int | None
    #: hand raises were looked for (not shed by the degradation ladder) on enough of the window
    hands_ok: bool = False

    @property
    def flags(self) -> list[str]:
        out = []
        if self.vision_share is not None and not self.vision_ok:
            out.append("vision_starved")
        if self.audio_share is not None and not self.audio_ok:
            out.append("audio_starved")
        if self.vision_level:
            out.append("vision_degraded")
        return out


def _union_length(intervals: list[tuple[float, float]]) -> float:
    total, cur_a, cur_b = 0.0, None, None
    for a, b in sorted(intervals):
        if cur_b is None or a > cur_b:
            if cur_b is not None:
                total += cur_b - cur_a  # type: ignore[operator]
            cur_a, cur_b = a, b
        else:
            cur_b = max(cur_b, b)
    if cur_b is not None:
        total += cur_b - cur_a  # type: ignore[operator]
    return total


def vision_share(frames: Sequence[FrameObservation], observed: tuple[float, float], reach_s: float) -> float:
    """Share of ``observed`` within ``reach_s`` of an analysed frame."""
    a, b = observed
    if b <= a:
        return 0.0
    iv = [(max(a, f.ts - reach_s), min(b, f.ts + reach_s)) for f in frames]
    return min(1.0, _union_length([x for x in iv if x[1] > x[0]]) / (b - a))


def audio_seconds(chunks: Sequence[AudioObservation], observed: tuple[float, float]) -> float:
    """Seconds of audio the stage analysed inside ``observed`` (overlapping chunks counted once)."""
    a, b = observed
    iv = [(max(a, c.ts), min(b, c.ts + c.duration_s)) for c in chunks]
    return _union_length([x for x in iv if x[1] > x[0]])


def measure(frames: Sequence[FrameObservation], chunks: Sequence[AudioObservation], observed: tuple[float, float],
            cfg: CoverageConfig, camera: bool, mic: bool) -> SignalCoverage:
    """Coverage of both signals; a stage the box does not have is neither measured nor starved."""
    span = max(1e-6, observed[1] - observed[0])
    v = round(vision_share(frames, observed, cfg.frame_reach_s), 4) if camera else None
    secs = audio_seconds(chunks, observed)
    au = round(min(1.0, secs / span), 4) if mic else None
    level = max((f.degradation_level for f in frames), default=0) if camera else None
    handed = hand_frames(frames)
    hands_share = vision_share(handed, observed, cfg.frame_reach_s) if camera else 0.0
    return SignalCoverage(
        vision_share=v, audio_share=au, vision_frames=len(frames), audio_s=round(secs, 2),
        vision_ok=camera and v is not None and v >= cfg.min_share and len(frames) >= cfg.min_frames,
        audio_ok=mic and au is not None and au >= cfg.min_share,
        vision_level=level,
        hands_ok=camera and hands_share >= cfg.min_share and len(handed) >= cfg.min_frames,
    )


def hand_frames(frames: Sequence[FrameObservation]) -> list[FrameObservation]:
    """The frames on which hand raises were looked for: a shed frame's empty ``hands_raised`` means "not
    looked", and counted as "hand down" it would split one raised hand into two episodes."""
    return [f for f in frames if "hand_raises" not in f.shed]
