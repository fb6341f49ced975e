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


def face_crop_gray48(image_bgr: np.ndarray, box_xywh: tuple[float, float, float, float]) -> np.ndarray:
    """Square, slightly enlarged grayscale crop of one face resized to 48×48 (kept in memory only)."""
    import cv2

    x, y, w, h = box_xywh
    side = max(w, h) * (1 + 2 * CROP_MARGIN)
    cx, cy = x + w / 2, y + h / 2
    H, W = image_bgr.shape[:2]
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    x1, y1 = int(round(cx + side / 2)), int(round(cy + side / 2))
    pad = max(0, -x0, -y0, x1 - W, y1 - H)
    img = image_bgr
    if pad:
        img = cv2.copyMakeBorder(image_bgr, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0, x1, y1 = x0 + pad, y0 + pad, x1 + pad, y1 + pad
    crop = img[y0:y1, x0:x1]
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    return cv2.resize(gray, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA)
