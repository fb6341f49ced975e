"""Hand raises: the BlazePose landmark model on the body ROI under each tracked face.

The pose runs on one student at a time (:mod:`edge_agent.vision.bodypose`): a
square ROI anchored on the face, with every other detected face greyed out. In a
seated class the ROI also holds neighbours, and without the greying the model
often locks onto the wrong person (with the former MediaPipe Pose graph it found
no person for 32 % of crops, 1 % with greying). A crop costs ~16 ms on one x86
core, several times that on a Pi, so a frame checks only a few faces, least
recently checked first; a track keeps its last state between checks
(:class:`RaiseState`) so the window can count episodes.

Nothing here keeps pixels: a ROI lives for one ``process`` call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from edge_agent.vision.bodypose import Landmark, PoseLandmarker, mask_others
from edge_agent.vision.faces import Box

__all__ = ["HandRaiseDetector", "RaiseState", "mask_others", "raised_hand"]

NOSE, L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = 0, 11, 12, 13, 14, 15, 16
#: Below this pose-presence score the model found nobody in the ROI: no evidence either way.
MIN_PRESENCE = 0.5


def raised_hand(lms: Sequence[Landmark], face: Box, min_visibility: float = 0.75) -> bool | None:
    """Whether the person whose pose this is, and whose face is ``face``, has a hand raised.

    A hand counts as raised when a clearly visible wrist (visibility ≥
    ``min_visibility``) is above the nose by at least 0.3 face heights and its
    elbow, also visible, is above its shoulder: a hand held up, not a hand on the
    cheek or in front of the chest. The thresholds come from checking every
    raise found on ``wider_dev`` crowds by eye: laxer ones (0.5 visibility,
    0.1 face heights) flagged 16 people of whom 6 had a hand up; these flag 8
    with 5 (see docs/vision.md). Returns None when the pose does not belong to
    this face (its nose lies outside the face box: the model picked a
    neighbour) or no shoulder is visible.
    """
    if len(lms) <= R_WRIST:
        return None
    x, y, w, h = face
    nx, ny, _ = lms[NOSE]
    if not (x - 0.3 * w <= nx <= x + 1.3 * w and y - 0.3 * h <= ny <= y + 1.3 * h):
        return None
    if max(lms[L_SHOULDER][2], lms[R_SHOULDER][2]) < 0.5:
        return None
    for sh, el, wr in ((L_SHOULDER, L_ELBOW, L_WRIST), (R_SHOULDER, R_ELBOW, R_WRIST)):
        if (lms[wr][2] >= min_visibility and lms[el][2] >= min_visibility + 0.05
                and lms[wr][1] < ny - 0.3 * h and lms[el][1] < lms[sh][1]):
            return True
    return False


@dataclass
class RaiseState:
    """Per-track raised/lowered state with hysteresis, for one window.

    A track goes up on one positive check and comes down after ``clear_after``
    negative checks in a row; tracks not checked in a frame keep their state, so
    sparse checking does not split one raise into several episodes.
    """

    clear_after: int = 2
    up: set[int] = field(default_factory=set)
    _neg: dict[int, int] = field(default_factory=dict)
    _last_checked: dict[int, int] = field(default_factory=dict)
    _tick: int = 0

    def pick(self, track_ids: Sequence[int], budget: int) -> list[int]:
        """The ``budget`` tracks checked least recently (never-checked first)."""
        order = sorted(track_ids, key=lambda t: self._last_checked.get(t, -1))
        return order[:max(0, budget)]

    def update(self, results: dict[int, bool | None], present: Sequence[int]) -> frozenset[int]:
        """Apply this frame's check results; return the tracks up in this frame."""
        self._tick += 1
        for tid, raised in results.items():
            self._last_checked[tid] = self._tick
            if raised:
                self.up.add(tid)
                self._neg[tid] = 0
            elif raised is False and tid in self.up:
                self._neg[tid] = self._neg.get(tid, 0) + 1
                if self._neg[tid] >= self.clear_after:
                    self.up.discard(tid)
        return frozenset(self.up & set(present))

    def reset(self) -> None:
        self.up.clear()
        self._neg.clear()
        self._last_checked.clear()
        self._tick = 0


class HandRaiseDetector:
    """Hand raises from :class:`PoseLandmarker` on face-anchored ROIs; at most ``per_frame`` ROIs a frame."""

    def __init__(self, per_frame: int = 6, min_visibility: float = 0.75, pose: PoseLandmarker | None = None):
        self.pose = pose or PoseLandmarker()
        self.per_frame = per_frame
        self.min_visibility = min_visibility
        self.state = RaiseState()
        self.version = self.pose.version

    def check_one(self, rgb: np.ndarray, face: Box, others: Sequence[Box] = ()) -> bool | None:
        """Raised, not raised, or None (no person, or the pose is someone else's) for one face in an RGB frame.

        ``others``: the other faces in the frame, greyed out in the ROI.
        """
        bp = self.pose.estimate(rgb, face, others)
        if bp.presence < MIN_PRESENCE:
            return None
        return raised_hand(bp.landmarks, face, self.min_visibility)

    def process(self, rgb: np.ndarray, faces: Sequence[tuple[int, Box]]) -> frozenset[int]:
        """Track ids with a hand up in this frame (checked now or still up from an earlier check)."""
        boxes = dict(faces)
        all_boxes = list(boxes.values())
        results = {tid: self.check_one(rgb, boxes[tid], all_boxes)
                   for tid in self.state.pick(list(boxes), self.per_frame)}
        return self.state.update(results, list(boxes))

    def reset_window(self) -> None:
        self.state.reset()

    def close(self) -> None:
        self.pose.close()
