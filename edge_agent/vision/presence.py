"""Students whose face is gone but who are still in their seat: turned away, so counted as not attending.

Attention is the share of people facing the board. A student who turns fully
away has no detectable face, so with faces alone they silently leave the share
and a half-turned class reads as attentive. Here presence rests on a second cue
that needs no face: the torso under it. While a face track has a face, the
stage keeps a coarse colour summary of the chest region under the face box (a
4×4×4 RGB histogram, 64 numbers, in memory for the current window only; never
published, never on disk, not enough to recognise anyone). When the detector
has lost the face for ``min_missed`` frames in a row (one missed frame is
detector flicker), the chest region under its last box is summarised again: if
it still matches (histogram intersection ≥ ``SAME_TORSO``), the student is
taken to be sitting there turned away, the track is kept alive and reported
with ``FaceObservation.facing=False``, ``attentive=False``. If it no longer
matches (an empty chair, the wall), the track expires as before.

The body-pose model's own person-presence score was tried first: on the sample
it scored a back-of-head student 0.0 and often > 0.5 for empty ROIs, so it is
not used for this.

:class:`AwayState` is the pure bookkeeping (fed a ``check`` callable, so it is
tested without pixels); :func:`torso_summary` and :func:`same_torso` are the cue.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from edge_agent.vision.faces import Box
from edge_agent.vision.tracking import Track

#: Chest region under a face box, in face widths/heights: ±``TORSO_HALF_W`` around the centre,
#: from ``TORSO_TOP`` to ``TORSO_BOTTOM`` face heights below the box's top.
TORSO_HALF_W, TORSO_TOP, TORSO_BOTTOM = 0.7, 1.5, 2.5
#: Histogram intersection (0..1) at or above which the chest region is the same as when the face was seen.
SAME_TORSO = 0.5
BINS = 4


def torso_summary(rgb: np.ndarray, face: Box) -> np.ndarray | None:
    """Normalised 4×4×4 colour histogram of the chest region under ``face`` (None: region off the frame)."""
    H, W = rgb.shape[:2]
    x, y, w, h = face
    cx = x + w / 2
    x0, x1 = max(0, int(cx - TORSO_HALF_W * w)), min(W, int(cx + TORSO_HALF_W * w))
    y0, y1 = max(0, int(y + TORSO_TOP * h)), min(H, int(y + TORSO_BOTTOM * h))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    q = (rgb[y0:y1:2, x0:x1:2] // (256 // BINS)).reshape(-1, 3).astype(np.int32)
    hist = np.bincount(q[:, 0] * BINS * BINS + q[:, 1] * BINS + q[:, 2], minlength=BINS ** 3).astype(np.float32)
    return hist / hist.sum()


def same_torso(before: np.ndarray | None, now: np.ndarray | None) -> bool | None:
    """Whether the chest region still looks as it did (None: no evidence either way)."""
    if before is None or now is None:
        return None
    return float(np.minimum(before, now).sum()) >= SAME_TORSO


@dataclass
class AwayState:
    """Per-window state of lost face tracks: which are still present (see the module docstring)."""

    per_frame: int = 64
    min_missed: int = 2
    min_hits: int = 3  # a track must have shown a face this often (not a one-frame false face)
    max_age: int = 8
    _checked: dict[int, tuple[bool | None, int]] = field(default_factory=dict)  # track → (result, tick)
    torso: dict[int, np.ndarray] = field(default_factory=dict)  # track → chest summary while its face was seen
    _tick: int = 0

    def step(self, tracks: Iterable[Track], seen: Sequence[int], check: Callable[[Track], bool | None]) -> list[Track]:
        """Tracks present in their seat without a face this frame. ``seen``: track ids with a face now.

        Calls ``check`` on at most ``per_frame`` lost tracks; keeps the present
        ones alive (``missed = 0``) so the tracker does not drop them.
        """
        self._tick += 1
        tracks = list(tracks)
        seen_set = set(seen)
        for tid in list(self._checked):
            if tid in seen_set or all(t.id != tid for t in tracks):
                del self._checked[tid]  # facing again, or expired
        for tid in [k for k in self.torso if all(t.id != k for t in tracks)]:
            del self.torso[tid]
        lost = [t for t in tracks if t.id not in seen_set and t.hits >= self.min_hits
                and (t.missed >= self.min_missed or t.id in self._checked)]
        for t in sorted(lost, key=lambda t: self._checked.get(t.id, (None, -1))[1])[:max(0, self.per_frame)]:
            self._checked[t.id] = (check(t), self._tick)
        away = []
        for t in lost:
            result, tick = self._checked.get(t.id, (None, -1))
            if result is True and self._tick - tick <= self.max_age:
                t.missed = 0
                away.append(t)
        return away

    def reset(self) -> None:
        self._checked.clear()
        self.torso.clear()
        self._tick = 0
