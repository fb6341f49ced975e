"""Camera set-up from the faces themselves: seated area, face sizes, board direction per zone.

Run it once per room while the class looks at the board (the first minutes of
a lesson, or students asked to look at the teacher). It samples frames, finds
faces with the detector the agent will run (``--face-detector``, recorded in the
profile; MediaPipe's model densely: whole frame + 4×4 tiles + refinement, slow,
but this runs once), and keeps only numbers: boxes and head angles. No frame is stored or sent;
each one is dropped after detection. The result is the ``camera`` section of
the room profile:

* ``seated_area``: the box around every face seen, with a margin;
* ``face_width_top`` / ``face_width_bottom``: a straight-line fit of face width
  against height in the frame, for perspective tiles;
* ``board``: the median head direction of all faces, and per zone when at
  least ``k`` faces were seen there — students at the side look at the board
  at another angle. Zones are a grid over the seated area named
  ``r<row>c<col>``, row 0 the front row (bottom of the image, by the board),
  column 0 the image's left: the names the dashboard's seat map lays out.

    edge-agent calibrate-camera --source camera:0 --seconds 60 --out calibration/rooms/room-101.yaml
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from calibration.profile import CameraCalibration, Direction, Zone, merge_section
from edge_agent.vision.faces import DEFAULT_FACE_BACKEND, FACE_BACKENDS, FaceBackend

#: Fewer faces than this and the tool refuses to guess a seated area.
MIN_FACES = 6
MAX_GRID = 4


@dataclass(frozen=True)
class FaceSample:
    """One face in one sampled frame: its box (pixels) and head angles when known."""

    box: tuple[float, float, float, float]
    yaw: float | None = None
    pitch: float | None = None


def _median_direction(faces: Sequence[FaceSample]) -> Direction | None:
    posed = [f for f in faces if f.yaw is not None and f.pitch is not None]
    if not posed:
        return None
    return Direction(yaw_deg=round(statistics.median(f.yaw for f in posed), 1),  # type: ignore[misc]
                     pitch_deg=round(statistics.median(f.pitch for f in posed), 1))  # type: ignore[misc]


def propose_camera_section(faces: Sequence[FaceSample], width: int, height: int, rows: int = 2, cols: int = 3,
                           k: int = 5) -> CameraCalibration:
    """The camera section these face samples support (pure: tests feed it synthetic rooms)."""
    if len(faces) < MIN_FACES:
        raise ValueError(f"only {len(faces)} faces seen; need at least {MIN_FACES} (is the class in view and lit?)")
    if not (1 <= rows <= MAX_GRID and 1 <= cols <= MAX_GRID):
        raise ValueError(f"zones: 1-{MAX_GRID} rows and 1-{MAX_GRID} columns")
    b = np.array([f.box for f in faces], dtype=float)
    fw = float(np.median(b[:, 2]))
    x0 = max(0.0, float(b[:, 0].min()) - 0.75 * fw)
    y0 = max(0.0, float(b[:, 1].min()) - 0.75 * fw)
    x1 = min(float(width), float((b[:, 0] + b[:, 2]).max()) + 0.75 * fw)
    y1 = min(float(height), float((b[:, 1] + b[:, 3]).max()) + 0.75 * fw)
    area = (round(x0 / width, 4), round(y0 / height, 4), round((x1 - x0) / width, 4), round((y1 - y0) / height, 4))
    cy = b[:, 1] + b[:, 3] / 2
    top = bottom = fw
    if float(np.ptp(cy)) > 2 * fw:  # faces at several heights: fit width against height
        slope, icpt = np.polyfit(cy, b[:, 2], 1)
        top, bottom = slope * y0 + icpt, slope * y1 + icpt
    lo = max(8.0, 0.5 * float(b[:, 2].min()))
    top, bottom = max(lo, float(top)), max(lo, float(bottom))
    zones = []
    for r in range(rows):  # r counts image rows from the top (the back of the room)
        for c in range(cols):
            zx, zy = x0 + c * (x1 - x0) / cols, y0 + r * (y1 - y0) / rows
            zw, zh = (x1 - x0) / cols, (y1 - y0) / rows
            inside = [f for f in faces if zx <= f.box[0] + f.box[2] / 2 < zx + zw and zy <= f.box[1] + f.box[3] / 2 < zy + zh]
            name = f"r{rows - 1 - r}c{c}"
            zones.append(Zone(name=name, area=(round(zx / width, 4), round(zy / height, 4), round(zw / width, 4),
                                               round(zh / height, 4)),
                              board=_median_direction(inside) if len(inside) >= k else None))
    return CameraCalibration(seated_area=area, face_width_top=round(min(1.0, top / width), 4),
                             face_width_bottom=round(min(1.0, bottom / width), 4),
                             board=_median_direction(faces) or Direction(), zones=zones)


def sample_faces(source: str, seconds: float, every_s: float,
                 face_detector: FaceBackend = DEFAULT_FACE_BACKEND) -> tuple[list[FaceSample], int, int]:
    """Faces from frames of ``source`` over ``seconds``; frames are dropped as soon as faces are taken.

    Poses come from the path the agent will use with ``face_detector`` (for ``ours``: its boxes and
    MediaPipe's keypoints on a crop, as ``vision.pose_keypoints: mediapipe``), so the board directions
    learnt here match the angles the agent measures."""
    import cv2

    from edge_agent.config import VisionConfig
    from edge_agent.sources.video import open_video_source
    from edge_agent.vision.crop_keypoints import CropKeypoints, pose_keypoints
    from edge_agent.vision.faces import TiledFaceDetector
    from edge_agent.vision.headpose import MeshHeadPose
    from edge_agent.vision.pose import yaw_pitch_from_keypoints

    src = open_video_source(source, target_fps=1.0 / every_s)
    crop_kps = None
    if face_detector == "ours":  # the agent's own tiles, so boxes (and the crops posed from them) match
        det = TiledFaceDetector(VisionConfig(face_detector="ours").tiles, backend="ours")
        crop_kps = CropKeypoints()
    else:
        det = TiledFaceDetector([(1, 1), (4, 4)], refine=True, backend=face_detector)
    mesh = MeshHeadPose()
    out: list[FaceSample] = []
    size = (0, 0)
    t0 = time.monotonic()
    try:
        for n, frame in enumerate(src.frames()):
            if frame.image is not None:
                size = (frame.image.shape[1], frame.image.shape[0])
                rgb = cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB)
                for d in det.detect(rgb):
                    ypr = mesh.estimate(rgb, d.box) if d.box[2] >= 24 else None
                    yp = (ypr[0], ypr[1]) if ypr else yaw_pitch_from_keypoints(pose_keypoints(crop_kps, rgb, d))
                    out.append(FaceSample(d.box, *(yp or (None, None))))
                del rgb
            if (n + 1) * every_s >= seconds or time.monotonic() - t0 > seconds + 30:
                break
    finally:
        src.close()
        det.close()
        mesh.close()
        if crop_kps is not None:
            crop_kps.close()
    return out, size[0], size[1]


def main(args: argparse.Namespace) -> int:
    """CLI: ``edge-agent calibrate-camera --source SPEC [--seconds S] [--every S] [--zones RxC] [--out FILE]``."""
    try:
        rows, cols = (int(v) for v in args.zones.lower().split("x"))
        faces, w, h = sample_faces(args.source, args.seconds, args.every, args.face_detector)
        if not w:
            raise OSError(f"no frames from {args.source}")
        cam = propose_camera_section(faces, w, h, rows, cols).model_copy(update={"face_detector": args.face_detector})
        if args.out:
            merge_section(args.out, "camera", cam.model_dump(mode="json", exclude_none=True))
    except (OSError, ValueError) as e:
        print(f"camera calibration failed: {e}", file=sys.stderr)
        return 2
    import json

    print(json.dumps({"faces_seen": len(faces), "frame": [w, h], "camera": cam.model_dump(mode="json")}))
    return 0


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--source", required=True, help="camera:<index>, /dev/videoN, or a video file")
    ap.add_argument("--seconds", type=float, default=60.0, help="how long to watch (default 60)")
    ap.add_argument("--every", type=float, default=5.0, help="seconds between sampled frames (default 5)")
    ap.add_argument("--face-detector", choices=FACE_BACKENDS, default=DEFAULT_FACE_BACKEND,
                    help="the agent's vision.face_detector: poses are measured the way it will measure them "
                         f"(default {DEFAULT_FACE_BACKEND}, the agent's); the profile records it")
    ap.add_argument("--zones", default="2x3", help="zone grid ROWSxCOLS over the seated area, at most 4x4 (default 2x3)")
    ap.add_argument("--out", help="write the camera section into this room profile (YAML), keeping its audio section")
