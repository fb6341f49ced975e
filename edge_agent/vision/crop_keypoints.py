"""MediaPipe's six face keypoints for one detected face, from its full-range model on an upscaled crop.

Why: with our own detector (``vision.face_detector: ours``) the boxes are ours, but its keypoints were
learnt from pseudo-labels on a fifth of its training faces and are coarser; head pose for faces too
small for a face mesh (the back rows) reads the keypoints, and on the sample classroom our keypoints
turned attentive students into inattentive ones. MediaPipe's full-range model (bundled in the pinned
``mediapipe`` wheel, run by ``blazeface.py``, float, so the same on x86 and aarch64) sees the face
upscaled into a ``CROP_PX`` square, twice the box's side, where it is reliable. The same function made
the keypoint pseudo-labels our detector was trained on (``models/faces/prepare.py``).
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_agent.vision.faces import Box, Detection, iou

#: The crop side the face is upscaled into; the face fills about half of it.
CROP_PX = 160
#: The crop's side in face box sides.
CONTEXT = 2.0
#: A detection in the crop must overlap the face this much to give its keypoints.
MIN_IOU = 0.3

Keypoints = tuple[tuple[float, float], ...]


class CropKeypoints:
    """One full-range interpreter; :meth:`keypoints` answers for one face box (frame pixels)."""

    def __init__(self, min_score: float = 0.5):
        from edge_agent.vision.blazeface import FullRangeFaceDetector

        self._det = FullRangeFaceDetector(min_score)
        self.version = f"mediapipe-face-full-{self._det.version}-crop"

    def keypoints(self, rgb: np.ndarray, box: Box) -> Keypoints | None:
        """The six keypoints (frame pixels) of the face at ``box``, or None when the model finds no face there."""
        x, y, w, h = box
        side = CONTEXT * max(w, h)
        if side < 2:
            return None
        x0, y0 = int(round(x + w / 2 - side / 2)), int(round(y + h / 2 - side / 2))
        s = int(round(side))
        H, W = rgb.shape[:2]
        sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(W, x0 + s), min(H, y0 + s)
        if sx1 <= sx0 or sy1 <= sy0:
            return None
        crop = np.zeros((s, s, 3), np.uint8)
        crop[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = rgb[sy0:sy1, sx0:sx1]
        big = cv2.resize(crop, (CROP_PX, CROP_PX), interpolation=cv2.INTER_CUBIC)
        face = ((x - x0) / s, (y - y0) / s, w / s, h / s)
        best, best_iou = None, MIN_IOU
        for box, _score, kps in self._det.detect(big):
            if (overlap := iou(box, face)) > best_iou:
                best, best_iou = kps, overlap
        if best is None:
            return None
        return tuple((x0 + kx * s, y0 + ky * s) for kx, ky in best)

    def close(self) -> None:
        self._det.close()


def pose_keypoints(crop: CropKeypoints | None, rgb: np.ndarray, d: Detection) -> Keypoints:
    """The keypoints head pose reads for a face without a mesh: MediaPipe's from a crop when ``crop`` is set
    and finds the face there, else the detector's own (the agent and ``calibrate-camera`` alike)."""
    kps = crop.keypoints(rgb, d.box) if crop is not None else None
    return kps or d.keypoints
