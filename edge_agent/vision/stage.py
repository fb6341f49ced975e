"""Vision stage: tiled face detection → ephemeral tracks → head pose → attention, zones, hand raises.

Stages, in order, on one frame: quality flags from cheap frame statistics (so a
dark or frozen camera is reported rather than read as an empty room); faces over
tiles of the calibrated seated area; ephemeral tracks; head pose (face mesh +
solvePnP for faces at least ``mesh_min_face_px`` wide, detector keypoints for
smaller ones, unknown when neither works); attention against the board direction
of the face's calibrated zone; presence of students whose face track was lost
but whose seat is still occupied (turned away: reported with ``facing=False``,
``attentive=False``; :mod:`edge_agent.vision.presence`); hand raises (the
BlazePose landmark model on a few face-anchored body ROIs a frame); in policy
``full`` only, expression on batched 48×48 crops (in ``no-emotion`` the model
is never loaded). Pixels live for one call.

Each frame's wall time feeds a :class:`~edge_agent.vision.degrade.DegradationLadder`
whose budget is the frame interval: when frames cost more, the next ones skip
hand raises, then face mesh, then expression. Every FrameObservation carries
the level it was made at: ``degradation_level`` (int, 0 = full work),
``degradation`` (its name) and ``shed`` (the configured work not done), so the
window can flag and null what was not measured.
"""

from __future__ import annotations

import time

import cv2
import numpy as np

from calibration.profile import RoomCalibration, as_profile
from edge_agent.config import AgentConfig, VisionConfig
from edge_agent.observations import FaceObservation, FrameObservation
from edge_agent.vision.bodypose import PoseLandmarker
from edge_agent.vision.crop_keypoints import CropKeypoints, pose_keypoints
from edge_agent.vision.degrade import LEVEL_NAMES, SHED_AT, DegradationLadder, LadderStatus, available_levels
from edge_agent.vision.faces import Box, Detection, TiledFaceDetector, perspective_tiles
from edge_agent.vision.hands import HandRaiseDetector
from edge_agent.vision.pose import attentive, yaw_pitch_from_keypoints
from edge_agent.vision.presence import AwayState, same_torso, torso_summary
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


def seated_area_px(profile: RoomCalibration, width: int, height: int) -> Box | None:
    """The calibrated seated area in pixels of this frame (None: the whole frame)."""
    a = profile.camera.seated_area
    return None if a is None else (a[0] * width, a[1] * height, a[2] * width, a[3] * height)


def mesh_candidates(dets: list[Detection], min_px: float, budget: int) -> set[int]:
    """Indices of the faces that get a face mesh this frame: wide enough, largest first."""
    big = sorted((i for i, d in enumerate(dets) if d.box[2] >= min_px), key=lambda i: -dets[i].box[2])
    return set(big[:budget])


class _Laps:
    """Wall time per step of one frame, in ms (``VisionPipelineStage.stage_ms``; benchmarks read it)."""

    def __init__(self, t0: float, first: str):
        self.ms: dict[str, float] = {}
        self._t = t0
        self(first)

    def __call__(self, step: str) -> None:
        now = time.perf_counter()
        self.ms[step] = self.ms.get(step, 0.0) + 1000 * (now - self._t)
        self._t = now


class VisionPipelineStage:
    """Implements edge_agent.stages.VisionStage: one frame in, one FrameObservation out."""

    def __init__(self, cfg: VisionConfig | AgentConfig, calibration: RoomCalibration | dict | None = None,
                 live: bool = False):
        """``live``: frames come in real time (the agent), so the degradation ladder may shed work when
        ``vision.degrade`` is on; offline callers (replay, benchmarks, tests) get full work on every frame."""
        vcfg = cfg.vision if isinstance(cfg, AgentConfig) else cfg
        self.cfg = vcfg
        self.profile = as_profile(calibration)
        manifest = cfg.models.manifest if isinstance(cfg, AgentConfig) else None
        self.detector = TiledFaceDetector(vcfg.tiles, vcfg.tile_overlap, vcfg.min_detection_confidence,
                                          refine=vcfg.refine_small_faces, backend=vcfg.face_detector,
                                          manifest=manifest, flip=vcfg.face_flip_tta)
        self._tiles: dict[tuple[int, int], list[tuple[int, int, int, int]] | None] = {}
        self.tracker = FaceTracker()
        self._last_gray: np.ndarray | None = None
        self.stage_ms: dict[str, float] = {}  # the last frame's wall time per step
        self.crop_keypoints = None  # MediaPipe's keypoints for our detector's faces without a mesh
        if vcfg.face_detector == "ours" and vcfg.pose_keypoints == "mediapipe":
            self.crop_keypoints = CropKeypoints()
        self.mesh = None
        if vcfg.mesh_per_frame > 0:
            from edge_agent.vision.headpose import MeshHeadPose

            self.mesh = MeshHeadPose()
        self.hands = HandRaiseDetector(vcfg.hand_checks_per_frame, pose=PoseLandmarker()) if vcfg.hand_raises else None
        self.away = AwayState() if vcfg.turned_away else None
        self.expression = None
        if isinstance(cfg, AgentConfig) and cfg.policy == "full":
            from edge_agent.vision.expression import ExpressionClassifier

            self.expression = ExpressionClassifier(cfg.models.manifest, cfg.models.threads,
                                                    flip_tta=cfg.vision.expression_flip_tta)
        fps = cfg.video.target_fps if isinstance(cfg, AgentConfig) else 1.0
        self.ladder = DegradationLadder(1.0 / fps, available_levels(self.hands is not None, self.mesh is not None,
                                                                    self.expression is not None),
                                        enabled=vcfg.degrade and live)
        self._configured = frozenset(name for name, on in (("hand_raises", self.hands), ("face_mesh", self.mesh),
                                                           ("expression", self.expression)) if on is not None)

    @property
    def degradation(self) -> LadderStatus:
        """The level the next frame will be analysed at (for health)."""
        return self.ladder.status

    def _tiles_for(self, w: int, h: int) -> list[tuple[int, int, int, int]] | None:
        """Perspective tiles when the profile knows face sizes (cached per frame size), else None (grids).
        Our detector sees the frame at its own resolution, so it needs no upscaled tiles (its grids apply)."""
        if self.detector.backend == "ours":
            return None
        if (w, h) not in self._tiles:
            cam = self.profile.camera
            if cam.face_width_top is None or cam.face_width_bottom is None:
                self._tiles[(w, h)] = None
            else:
                area = seated_area_px(self.profile, w, h) or (0.0, 0.0, float(w), float(h))
                self._tiles[(w, h)] = perspective_tiles(w, h, area, cam.face_width_top * w, cam.face_width_bottom * w,
                                                        self.cfg.face_target_px)
        return self._tiles[(w, h)]

    def _pose(self, rgb: np.ndarray, d: Detection, use_mesh: bool) -> tuple[float, float, float | None] | None:
        if use_mesh and self.mesh is not None:
            ypr = self.mesh.estimate(rgb, d.box)
            if ypr is not None:
                return ypr
        yp = yaw_pitch_from_keypoints(pose_keypoints(self.crop_keypoints, rgb, d))
        return None if yp is None else (yp[0], yp[1], None)

    def process(self, ts: float, image_bgr: np.ndarray) -> FrameObservation:
        t0 = time.perf_counter()
        level = self.ladder.level
        shed = SHED_AT[level] & self._configured
        h, w = image_bgr.shape[:2]
        gray = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
        quality = set(frame_quality(gray))
        small = cv2.resize(gray, (64, 36))
        if self._last_gray is not None and np.abs(small.astype(int) - self._last_gray).max() == 0:
            quality.add("frozen")
        self._last_gray = small.astype(int)
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        lap = _Laps(t0, "quality")
        dets = self.detector.detect(rgb, seated_area_px(self.profile, w, h), self._tiles_for(w, h))
        lap("faces")
        ids = self.tracker.update([d.box for d in dets])
        lap("tracks")
        probs: list[np.ndarray | None] = [None] * len(dets)
        if self.expression is not None and dets and "expression" not in shed:
            from edge_agent.inference.preprocess import face_crop_gray48

            crops = np.stack([face_crop_gray48(image_bgr, d.box, d.keypoints[:2] if len(d.keypoints) >= 2 else None)
                              for d in dets])
            probs = list(self.expression.predict(crops))
            del crops  # crops never outlive this call
        lap("expression")
        meshed = (set() if "face_mesh" in shed
                  else mesh_candidates(dets, self.cfg.mesh_min_face_px, self.cfg.mesh_per_frame))
        cam = self.profile.camera
        faces = []
        for i, (d, tid, pr) in enumerate(zip(dets, ids, probs, strict=True)):
            zone = cam.zone_at((d.box[0] + d.box[2] / 2) / w, (d.box[1] + d.box[3] / 2) / h)
            board = cam.board_for(zone)
            ypr = self._pose(rgb, d, i in meshed)
            att = None if ypr is None else attentive(ypr[0], ypr[1], board.yaw_deg, board.pitch_deg,
                                                     self.cfg.attention_cone_deg)
            faces.append(FaceObservation(
                box=d.box, score=d.score, track_id=tid,
                yaw=None if ypr is None else round(ypr[0], 1), pitch=None if ypr is None else round(ypr[1], 1),
                roll=None if ypr is None or ypr[2] is None else round(ypr[2], 1), attentive=att,
                zone=None if zone is None else zone.name, expression=pr))
        lap("head_pose")
        if self.away is not None:
            torso = self.away.torso
            for d, tid in zip(dets, ids, strict=True):
                summary = torso_summary(rgb, d.box)
                if summary is not None:
                    torso[tid] = summary
            check = lambda t, img=rgb: same_torso(torso.get(t.id), torso_summary(img, t.box))  # noqa: E731
            for t in self.away.step(self.tracker.tracks, ids, check):
                x, y, bw, bh = t.box
                zone = cam.zone_at((x + bw / 2) / w, (y + bh / 2) / h)
                faces.append(FaceObservation(box=t.box, score=0.0, track_id=t.id, attentive=False,
                                             zone=None if zone is None else zone.name, facing=False))
        lap("presence")
        hands: frozenset[int] = frozenset()
        if self.hands is not None and dets and "hand_raises" not in shed:
            hands = self.hands.process(rgb, list(zip(ids, (d.box for d in dets), strict=True)))
        del rgb
        lap("hands")
        self.stage_ms = lap.ms
        self.ladder.observe(time.perf_counter() - t0)
        return FrameObservation(ts=ts, faces=tuple(faces), hands_raised=tuple(sorted(hands)),
                                quality=frozenset(quality), width=w, height=h, degradation_level=level,
                                degradation=LEVEL_NAMES[level], shed=shed)

    def reset_window(self) -> None:
        self.tracker.reset()
        if self.hands is not None:
            self.hands.reset_window()
        if self.away is not None:
            self.away.reset()

    def model_versions(self) -> dict[str, str]:
        v = {"faces": self.detector.version}
        if self.mesh is not None:
            v["head_pose"] = self.mesh.version
        if self.crop_keypoints is not None:
            v["pose_keypoints"] = self.crop_keypoints.version
        if self.hands is not None:
            v["hands"] = self.hands.version
        if self.expression is not None:
            v["expression"] = self.expression.version
        return v

    def close(self) -> None:
        self.detector.close()
        if self.crop_keypoints is not None:
            self.crop_keypoints.close()
        if self.mesh is not None:
            self.mesh.close()
        if self.hands is not None:
            self.hands.close()
