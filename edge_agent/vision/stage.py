"""Vision stage: tiled face detection → ephemeral tracks → coarse head pose → attention.

Quality flags come from cheap frame statistics so a dark or frozen camera is
reported rather than read as an empty room. In policy ``full`` our expression
model classifies each face crop (batched); in ``no-emotion`` it is never loaded.
Hand raises are not detected in this build (see README "What works").
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_agent.config import AgentConfig, VisionConfig
from edge_agent.observations import FaceObservation, FrameObservation
from edge_agent.vision.faces import TiledFaceDetector
from edge_agent.vision.pose import attentive, yaw_pitch_from_keypoints
from edge_agent.vision.tracking import FaceTracker

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
    """Faces, tracks and attention per frame."""

    def __init__(self, cfg: VisionConfig | AgentConfig, calibration: dict | None = None):
        vcfg = cfg.vision if isinstance(cfg, AgentConfig) else cfg
        self.cfg = vcfg
        cal = calibration or {}
        self.board_yaw = float(cal.get("board_yaw_deg", 0.0))
        self.board_pitch = float(cal.get("board_pitch_deg", 0.0))
        self.detector = TiledFaceDetector(vcfg.tiles, vcfg.tile_overlap, vcfg.min_detection_confidence)
        self.tracker = FaceTracker()
        self._last_gray: np.ndarray | None = None
        self.expression = None
        if isinstance(cfg, AgentConfig) and cfg.policy == "full":
            from edge_agent.vision.expression import ExpressionClassifier

            self.expression = ExpressionClassifier(cfg.models.manifest, cfg.models.threads)

    def process(self, ts: float, image_bgr: np.ndarray) -> FrameObservation:
        h, w = image_bgr.shape[:2]
        gray = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
        quality = set(frame_quality(gray))
        small = cv2.resize(gray, (64, 36))
        if self._last_gray is not None and np.abs(small.astype(int) - self._last_gray).max() == 0:
            quality.add("frozen")
        self._last_gray = small.astype(int)
        dets = self.detector.detect(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB))
        ids = self.tracker.update([d.box for d in dets])
        probs: list[np.ndarray | None] = [None] * len(dets)
        if self.expression is not None and dets:
            from edge_agent.inference.preprocess import face_crop_gray48

            crops = np.stack([face_crop_gray48(image_bgr, d.box) for d in dets])
            probs = list(self.expression.predict(crops))
            del crops  # crops never outlive this call
        faces = []
        for d, tid, pr in zip(dets, ids, probs, strict=True):
            yp = yaw_pitch_from_keypoints(d.keypoints)
            att = None if yp is None else attentive(yp[0], yp[1], self.board_yaw, self.board_pitch,
                                                    self.cfg.attention_cone_deg)
            faces.append(FaceObservation(box=d.box, score=d.score, track_id=tid,
                                         yaw=None if yp is None else round(yp[0], 1),
                                         pitch=None if yp is None else round(yp[1], 1), attentive=att,
                                         expression=pr))
        return FrameObservation(ts=ts, faces=tuple(faces), quality=frozenset(quality), width=w, height=h)

    def reset_window(self) -> None:
        self.tracker.reset()

    def model_versions(self) -> dict[str, str]:
        v = {"faces": self.detector.version}
        if self.expression is not None:
            v["expression"] = self.expression.version
        return v

    def close(self) -> None:
        self.detector.close()
