"""First vision stage: count faces with MediaPipe's full-range face detector.

This is the foundation slice; tiling, head pose, expression and hand raises
deepen it (see docs/ARCHITECTURE.md). Quality flags come from cheap frame
statistics so a dark or frozen camera is reported rather than read as an empty room.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_agent.config import VisionConfig
from edge_agent.observations import FaceObservation, FrameObservation

DARK_MEAN = 25.0
BRIGHT_MEAN = 235.0
BLUR_VAR = 15.0


def frame_quality(gray: np.ndarray) -> frozenset[str]:
    """Flags for frames that cannot be trusted (dark, overexposed, blurred)."""
    flags = set()
    m = float(gray.mean())
    if m < DARK_MEAN:
        flags.add("dark")
    elif m > BRIGHT_MEAN:
        flags.add("overexposed")
    elif float(cv2.Laplacian(gray, cv2.CV_64F).var()) < BLUR_VAR:
        flags.add("blurred")
    return frozenset(flags)


class FaceCountStage:
    """Whole-frame MediaPipe face detection (full-range model, bundled in the wheel)."""

    def __init__(self, cfg: VisionConfig):
        import mediapipe as mp

        self._det = mp.solutions.face_detection.FaceDetection(
            model_selection=1, min_detection_confidence=cfg.min_detection_confidence
        )
        self._version = f"mediapipe-face-full-{mp.__version__}"

    def process(self, ts: float, image_bgr: np.ndarray) -> FrameObservation:
        h, w = image_bgr.shape[:2]
        gray = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
        quality = frame_quality(gray)
        res = self._det.process(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB))
        faces = []
        for d in res.detections or ():
            bb = d.location_data.relative_bounding_box
            faces.append(FaceObservation(box=(bb.xmin * w, bb.ymin * h, bb.width * w, bb.height * h),
                                         score=float(d.score[0])))
        return FrameObservation(ts=ts, faces=tuple(faces), quality=quality, width=w, height=h)

    def reset_window(self) -> None:
        pass

    def model_versions(self) -> dict[str, str]:
        return {"faces": self._version}

    def close(self) -> None:
        self._det.close()
