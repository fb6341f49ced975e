"""Upper-body pose of one seated student: MediaPipe's BlazePose landmark model run directly on LiteRT.

Why not ``mp.solutions.pose``: that graph (person detector, landmark model,
segmentation, smoothing calculators) added ~106 MB of peak RSS, which put the
stage over the 400 MB budget with hand raises on. The landmark model alone is
one LiteRT interpreter (~16 ms a crop on one x86 core). It ships inside the
pinned ``mediapipe`` wheel and is loaded from the installed package at run
time; it is never copied into this repository.

The face is already known, so we skip the person detector and build the ROI it
would have produced: a square centred where a seated student's hips are
(``ROI_DROP`` face heights below the face centre), ``ROI_SIDE`` face heights
wide (the detector's whole-body circle × 1.25), padded with black where it
leaves the frame. Every other detected face inside it is greyed out so the model
locks onto this student. Besides landmarks the model returns a pose-presence
score: the probability that a person is in the ROI at all, which also answers
"is somebody still sitting here?" when their face is gone (turned away).

Nothing here keeps pixels: the ROI lives for one call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_agent.inference.tflite import interpreter_class, mediapipe_model
from edge_agent.vision.faces import Box

#: Model input side (pixels).
INPUT_PX = 256
#: ROI centre below the face centre, and ROI side, in face heights (hips of a seated student; see docstring).
ROI_DROP = 3.0
ROI_SIDE = 9.4
#: Landmarks the BlazePose topology defines (the model also returns 6 auxiliary ones, unused).
N_LANDMARKS = 33

Landmark = tuple[float, float, float]  # x, y in frame pixels, visibility 0..1


def model_path() -> Path:
    """The full BlazePose landmark model inside the installed mediapipe package."""
    return mediapipe_model("modules/pose_landmark/pose_landmark_full.tflite")


def body_roi(face: Box) -> tuple[int, int, int]:
    """(x0, y0, side) of the square ROI for the student whose face is ``face`` (may extend past the frame)."""
    x, y, w, h = face
    side = max(8, int(round(ROI_SIDE * h)))
    cx, cy = x + w / 2, y + h / 2 + ROI_DROP * h
    return int(round(cx - side / 2)), int(round(cy - side / 2)), side


def roi_pixels(rgb: np.ndarray, x0: int, y0: int, side: int) -> np.ndarray:
    """A copy of the square ROI, black where it leaves the frame."""
    H, W = rgb.shape[:2]
    out = np.zeros((side, side, 3), np.uint8)
    xa, ya, xb, yb = max(0, x0), max(0, y0), min(W, x0 + side), min(H, y0 + side)
    if xb > xa and yb > ya:
        out[ya - y0:yb - y0, xa - x0:xb - x0] = rgb[ya:yb, xa:xb]
    return out


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


@dataclass(frozen=True, slots=True)
class BodyPose:
    landmarks: tuple[Landmark, ...]  # N_LANDMARKS, frame pixels
    presence: float  # probability that a person is in the ROI


class PoseLandmarker:
    """The bundled BlazePose (full) landmark model on a face-anchored ROI; one interpreter, one thread."""

    def __init__(self, threads: int = 1):
        import mediapipe as mp

        self._interp = interpreter_class()(model_path=str(model_path()), num_threads=threads)
        self._interp.allocate_tensors()
        self._inp = self._interp.get_input_details()[0]["index"]
        outs = {d["name"]: d for d in self._interp.get_output_details()}
        # landmarks (1, 195) = 39 × (x, y, z, visibility logit, presence logit); pose flag (1, 1)
        self._lm = next(d["index"] for d in outs.values() if tuple(d["shape"]) == (1, 195))
        self._flag = next(d["index"] for d in outs.values() if tuple(d["shape"]) == (1, 1))
        self.version = f"mediapipe-pose-landmark-full-{mp.__version__}-litert"

    def estimate(self, rgb: np.ndarray, face: Box, others: Sequence[Box] = ()) -> BodyPose:
        """Pose of the student whose face is ``face`` in an RGB frame; ``others`` are greyed out."""
        x0, y0, side = body_roi(face)
        roi = mask_others(roi_pixels(rgb, x0, y0, side), (x0, y0), face, others)
        s = INPUT_PX / side
        inp = cv2.resize(roi, (INPUT_PX, INPUT_PX), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        del roi
        self._interp.set_tensor(self._inp, (inp.astype(np.float32) / 255.0)[None])
        self._interp.invoke()
        lm = self._interp.get_tensor(self._lm)[0].reshape(-1, 5)[:N_LANDMARKS]
        presence = float(self._interp.get_tensor(self._flag)[0, 0])
        vis = 1.0 / (1.0 + np.exp(-lm[:, 3]))
        pts = tuple((x0 + float(px) / s, y0 + float(py) / s, float(v)) for (px, py), v in zip(lm[:, :2], vis, strict=True))
        return BodyPose(pts, presence)

    def close(self) -> None:
        self._interp = None
