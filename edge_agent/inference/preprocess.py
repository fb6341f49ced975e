"""The one preprocessing path for the expression model: training, evaluation and the agent call these.

Numpy only (plus OpenCV for cropping on the device), so the training environment
and the box compute exactly the same input.
"""

from __future__ import annotations

import numpy as np

FACE_SIZE = 48
#: Extra margin around the detector's box before the square crop (FER faces are tightly cropped).
CROP_MARGIN = 0.1


def expression_input(faces_u8: np.ndarray) -> np.ndarray:
    """(N, 48, 48) uint8 grayscale → (N, 48, 48, 1) float32 in [0, 1]."""
    x = np.asarray(faces_u8)
    if x.ndim == 2:
        x = x[None]
    if x.shape[1:] != (FACE_SIZE, FACE_SIZE):
        raise ValueError(f"expected (N, {FACE_SIZE}, {FACE_SIZE}) faces, got {x.shape}")
    return (x.astype(np.float32) / 255.0)[..., None]


#: Heads tilted less than this are cropped as they are (no resampling for nothing).
MIN_ROLL_DEG = 5.0


def eye_roll_deg(eyes: tuple[tuple[float, float], tuple[float, float]] | None) -> float:
    """Tilt of the eye line in degrees (MediaPipe order: the subject's right eye first, on the image's left)."""
    if eyes is None:
        return 0.0
    (rx, ry), (lx, ly) = eyes
    if abs(lx - rx) + abs(ly - ry) < 1e-6:
        return 0.0
    return float(np.degrees(np.arctan2(ly - ry, lx - rx)))


def face_crop_gray48(image_bgr: np.ndarray, box_xywh: tuple[float, float, float, float],
                     eyes: tuple[tuple[float, float], tuple[float, float]] | None = None) -> np.ndarray:
    """Square, slightly enlarged grayscale crop of one face resized to 48×48 (kept in memory only).

    With the detector's two eye keypoints, a tilted head is rotated upright first: FER faces are
    upright, and a 20° tilt costs the classifier more than the resampling does.
    """
    import cv2

    x, y, w, h = box_xywh
    side = max(w, h) * (1 + 2 * CROP_MARGIN)
    cx, cy = x + w / 2, y + h / 2
    roll = eye_roll_deg(eyes)
    outer = side * (1.5 if abs(roll) >= MIN_ROLL_DEG else 1.0)  # room for the corners when rotating
    H, W = image_bgr.shape[:2]
    x0, y0 = int(round(cx - outer / 2)), int(round(cy - outer / 2))
    x1, y1 = int(round(cx + outer / 2)), int(round(cy + outer / 2))
    pad = max(0, -x0, -y0, x1 - W, y1 - H)
    img = image_bgr
    if pad:
        img = cv2.copyMakeBorder(image_bgr, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0, x1, y1 = x0 + pad, y0 + pad, x1 + pad, y1 + pad
    crop = img[y0:y1, x0:x1]
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    if abs(roll) >= MIN_ROLL_DEG:
        n = gray.shape[0]
        m = cv2.getRotationMatrix2D((n / 2, n / 2), roll, 1.0)
        gray = cv2.warpAffine(gray, m, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        k = int(round((n - n / 1.5) / 2))
        gray = gray[k:n - k, k:n - k]
    return cv2.resize(gray, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA)
