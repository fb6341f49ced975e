"""Coarse head pose from the face detector's six keypoints, and the attention test.

MediaPipe's detector returns right eye, left eye, nose tip, mouth, right and left
ear tragion. For faces 15–60 px wide a landmark mesh is unreliable, but the
nose's offset from the eye midline, relative to the eye distance, still gives
yaw to within ~15°, and its height between eyes and mouth gives a rough pitch.
That is enough to ask "is this face turned toward the board?".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: Keypoints closer than this (pixels) are too small to estimate pose from.
MIN_EYE_DIST_PX = 4.0


def yaw_pitch_from_keypoints(kps: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    """(yaw, pitch) in degrees; yaw > 0 when the face turns to the image's right. None if unusable."""
    if len(kps) < 4:
        return None
    (rx, ry), (lx, ly), (nx, ny), (mx, my) = kps[:4]
    eye_dx, eye_dy = lx - rx, ly - ry
    eye_dist = math.hypot(eye_dx, eye_dy)
    if eye_dist < MIN_EYE_DIST_PX:
        return None
    mid_x, mid_y = (rx + lx) / 2, (ry + ly) / 2
    # nose offset along the eye axis, normalised: about ±0.5 eye distances at ±60° yaw
    along = ((nx - mid_x) * eye_dx + (ny - mid_y) * eye_dy) / (eye_dist ** 2)
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, 2.0 * along))))
    # pitch: where the nose sits between eye line and mouth (0.5 when level)
    em = math.hypot(mx - mid_x, my - mid_y)
    if em < 1e-6:
        return yaw, 0.0
    t = ((nx - mid_x) * (mx - mid_x) + (ny - mid_y) * (my - mid_y)) / (em ** 2)
    pitch = (0.55 - t) * 120.0
    return yaw, pitch


def attentive(yaw: float, pitch: float, target_yaw: float = 0.0, target_pitch: float = 0.0,
              cone_deg: float = 30.0) -> bool:
    """Within ``cone_deg`` of the board/teacher direction (angular distance on yaw and pitch)."""
    return math.hypot(yaw - target_yaw, pitch - target_pitch) <= cone_deg
