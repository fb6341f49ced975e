"""Hand raises: MediaPipe Pose on the person region around each tracked face.

The legacy Pose solution finds one person per image, so it is run on a crop
around each face (room above the head for a raised arm, shoulders and elbows
below). In a seated class that crop also holds neighbours, and the model then
often finds nobody or the wrong person; greying out every other detected face
in the crop fixed that on the sample classroom (frame-level raises found 10 →
28 of 28, no false ones; persons found for 68 % → 99 % of faces). A crop costs about 25 ms on one core of a Pi-class CPU, so a frame
checks only a few faces, least recently checked first; a track keeps its last
state between checks (:class:`RaiseState`) so the window can count episodes.
Only the full pose model is bundled in the pinned MediaPipe wheel; the lite and
heavy ones would be downloaded at run time, which the agent never does, so
``model_complexity`` is fixed at 1.

Nothing here keeps pixels: a crop lives for one ``process`` call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from edge_agent.vision.faces import Box

NOSE, L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = 0, 11, 12, 13, 14, 15, 16
#: Pose input side; smaller person crops are upscaled to it.
POSE_INPUT_PX = 256

Landmark = tuple[float, float, float]  # x, y in frame pixels, visibility 0..1


def person_region(face: Box, frame_w: int, frame_h: int) -> tuple[int, int, int, int]:
    """The (x, y, w, h) crop around a face that holds a raised arm, shoulders and elbows."""
    x, y, w, h = face
    cx = x + w / 2
    x0, x1 = max(0, int(cx - 1.6 * w)), min(frame_w, int(cx + 1.6 * w))
    y0, y1 = max(0, int(y - 2.0 * h)), min(frame_h, int(y + 3.0 * h))
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def mask_others(crop: np.ndarray, origin: tuple[int, int], face: Box, others: Sequence[Box]) -> np.ndarray:
    """A copy of ``crop`` with every face but ``face`` painted grey (with a margin), so pose locks onto ours."""
    ox, oy = origin
    out = crop.copy()
    ch, cw = out.shape[:2]
    for o in others:
        if o == face:
            continue
        x, y, w, h = o
        pad = 0.15 * w
        x0, y0 = max(0, int(x - pad - ox)), max(0, int(y - pad - oy))
        x1, y1 = min(cw, int(x + w + pad - ox)), min(ch, int(y + h + pad - oy))
        if x1 > x0 and y1 > y0:
            out[y0:y1, x0:x1] = 128
    return out


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
    """MediaPipe Pose (full model, bundled) on person crops; at most ``per_frame`` crops a frame."""

    def __init__(self, per_frame: int = 6, min_visibility: float = 0.75):
        import mediapipe as mp

        self._pose = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1,
                                            min_detection_confidence=0.5)
        self.per_frame = per_frame
        self.min_visibility = min_visibility
        self.state = RaiseState()
        self.version = f"mediapipe-pose-full-{mp.__version__}"

    def check_one(self, rgb: np.ndarray, face: Box, others: Sequence[Box] = ()) -> bool | None:
        """Raised, not raised, or None (no pose for this face) for one face in an RGB frame.

        ``others``: the other faces in the frame, greyed out in the crop.
        """
        import cv2

        fh, fw = rgb.shape[:2]
        x0, y0, w, h = person_region(face, fw, fh)
        if w < 8 or h < 8:
            return None
        crop = mask_others(rgb[y0:y0 + h, x0:x0 + w], (x0, y0), face, others)
        s = max(1.0, POSE_INPUT_PX / h)
        if s > 1.0:
            crop = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_LINEAR)
        res = self._pose.process(np.ascontiguousarray(crop))
        if not res.pose_landmarks:
            return None
        ch, cw = crop.shape[:2]
        lms = [(x0 + p.x * cw / s, y0 + p.y * ch / s, float(p.visibility)) for p in res.pose_landmarks.landmark]
        return raised_hand(lms, face, self.min_visibility)

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
        self._pose.close()
