"""Whole-room face detection: a face model over the whole frame and overlapping tiles, merged by NMS.

Three backends (``vision.face_detector``): ``litert`` runs MediaPipe's full-range model and decodes it
ourselves (edge_agent/vision/blazeface.py; the same answer on x86 and aarch64, issue #17),
``mediapipe`` runs MediaPipe's own graph, and ``ours`` runs our own detector (edge_agent/vision/cpface.py,
issue #22), which sees the frame at its own resolution and so needs no tiles for small faces.
Tiling, refinement and NMS are shared.

The detector sees a 192 px input; on a 1080p classroom frame that makes a 25 px
face 4 px wide, so it is run on tiles as well as on the whole frame. Detections
that touch an inner tile edge are likely cut faces and are dropped when another
tile (or the whole frame) covers them better. Pure geometry lives in functions
below so that tests can check it without a model.

Two ways to spend more effort only where faces are small:

* **refinement** (no calibration needed): a grid tile in which the detector
  found a face narrower than a seventh of the tile is split into 2×2 sub-tiles
  and run again; faces found only there must score ≥ ``refine_min_score``
  because upscaled texture makes more false faces. On ``wider_dev`` this took
  recall from 0.601 to 0.644 at the same precision (0.950) for 1.4× the time.
* **perspective tiles** (from a room calibration): horizontal bands over the
  seated area whose tile side follows the expected face width at that height,
  so back rows get small, upscaled tiles and front rows large ones
  (:func:`perspective_tiles`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, get_args

import numpy as np

Box = tuple[float, float, float, float]  # x, y, w, h


@dataclass(frozen=True)
class Detection:
    box: Box
    score: float
    keypoints: tuple[tuple[float, float], ...] = ()  # six MediaPipe keypoints in frame pixels
    cut: bool = False  # touches an inner tile edge


def iou(a: Box, b: Box) -> float:
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def nms(dets: Sequence[Detection], iou_threshold: float = 0.3) -> list[Detection]:
    """Greedy NMS; whole (uncut) detections win over cut ones, then higher scores."""
    order = sorted(dets, key=lambda d: (d.cut, -d.score))
    kept: list[Detection] = []
    for d in order:
        if all(iou(d.box, k.box) < iou_threshold and not _contains(k.box, d.box) for k in kept):
            kept.append(d)
    return kept


def _contains(outer: Box, inner: Box, frac: float = 0.8) -> bool:
    """``inner`` lies mostly inside ``outer`` (a fragment of a face found in a tile)."""
    x1, y1 = max(outer[0], inner[0]), max(outer[1], inner[1])
    x2 = min(outer[0] + outer[2], inner[0] + inner[2])
    y2 = min(outer[1] + outer[3], inner[1] + inner[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    return inner[2] * inner[3] > 0 and inter / (inner[2] * inner[3]) >= frac and outer[2] * outer[3] > inner[2] * inner[3]


def tile_grid(width: int, height: int, cols: int, rows: int, overlap: float,
              area: Box | None = None) -> list[tuple[int, int, int, int]]:
    """Tiles (x, y, w, h) covering ``area`` (default: the whole frame), each overlapping its neighbours."""
    ax, ay, aw, ah = area if area is not None else (0.0, 0.0, float(width), float(height))
    tw = aw / (cols - (cols - 1) * overlap) if cols > 1 else aw
    th = ah / (rows - (rows - 1) * overlap) if rows > 1 else ah
    tiles = []
    for r in range(rows):
        for c in range(cols):
            x = ax + c * tw * (1 - overlap)
            y = ay + r * th * (1 - overlap)
            x0, y0 = int(max(0, x)), int(max(0, y))
            x1, y1 = int(min(width, x + tw)), int(min(height, y + th))
            if x1 - x0 > 8 and y1 - y0 > 8:
                tiles.append((x0, y0, x1 - x0, y1 - y0))
    return tiles


def touches_inner_edge(box: Box, tile: tuple[int, int, int, int], frame_w: int, frame_h: int, margin: float = 2.0) -> bool:
    x, y, w, h = box
    tx, ty, tw, th = tile
    left = x <= tx + margin and tx > 0
    top = y <= ty + margin and ty > 0
    right = x + w >= tx + tw - margin and tx + tw < frame_w
    bottom = y + h >= ty + th - margin and ty + th < frame_h
    return left or top or right or bottom


#: Side of the full-range detector's input.
DETECTOR_INPUT_PX = 192
#: A tile is refined when a face narrower than this share of the tile was found in it.
REFINE_SMALL_FRAC = 1 / 7


def perspective_tiles(width: int, height: int, area: Box, face_top_px: float, face_bottom_px: float,
                      target_px: float = 24.0, overlap: float = 0.25,
                      input_px: int = DETECTOR_INPUT_PX) -> list[tuple[int, int, int, int]]:
    """Square-ish tiles over ``area`` whose side makes the expected face ``target_px`` wide in the detector.

    Expected face width grows linearly from ``face_top_px`` at the top of the
    area to ``face_bottom_px`` at its bottom (a camera at the front looking down
    the room). Bands are laid from the top; each band's height is the tile side
    at its top edge, so every face lands in a tile no coarser than it needs.
    """
    ax, ay, aw, ah = area
    tiles: list[tuple[int, int, int, int]] = []
    y = ay
    while y < ay + ah - 1:
        t = (y - ay) / ah if ah > 0 else 0.0
        face = max(4.0, face_top_px + t * (face_bottom_px - face_top_px))
        side = max(32.0, min(max(aw, ah), face * input_px / target_px))
        step = side * (1 - overlap)
        cols = max(1, int(np.ceil((aw - side) / step)) + 1) if aw > side else 1
        tw = aw if cols == 1 else side
        xstep = 0.0 if cols == 1 else (aw - tw) / (cols - 1)
        y1 = min(ay + ah, y + side)
        for c in range(cols):
            x0 = ax + c * xstep
            x0i, y0i = int(max(0, x0)), int(max(0, y))
            x1i, y1i = int(min(width, x0 + tw)), int(min(height, y1))
            if x1i - x0i > 8 and y1i - y0i > 8:
                tiles.append((x0i, y0i, x1i - x0i, y1i - y0i))
        if y1 >= ay + ah:
            break
        y += side * (1 - overlap)
    return tiles


FaceBackend = Literal["litert", "mediapipe", "ours"]
FACE_BACKENDS: tuple[str, ...] = get_args(FaceBackend)
#: ``vision.face_detector`` when the config leaves it unset (issue #22: ours finds the back rows).
DEFAULT_FACE_BACKEND: FaceBackend = "ours"
RelDetection = tuple[Box, float, tuple[tuple[float, float], ...]]  # box and keypoints relative to the image


class _Backend(Protocol):
    version: str

    def detect(self, rgb: np.ndarray) -> list[RelDetection]: ...

    def close(self) -> None: ...


#: The score MediaPipe's full-range graph keeps from, whatever ``min_detection_confidence`` says.
GRAPH_MIN_SCORE = 0.6


class _GraphBackend:
    """MediaPipe's ``face_detection`` graph (model_selection=1). It ignores ``min_detection_confidence``
    and keeps scores ≥ ``GRAPH_MIN_SCORE``, its subgraph's own threshold (MediaPipe issue #3896)."""

    def __init__(self, min_confidence: float):
        import mediapipe as mp

        self._det = mp.solutions.face_detection.FaceDetection(model_selection=1,
                                                              min_detection_confidence=min_confidence)
        self.version = f"{mp.__version__}-graph"

    def detect(self, rgb: np.ndarray) -> list[RelDetection]:
        out = []
        for d in self._det.process(np.ascontiguousarray(rgb)).detections or ():
            bb = d.location_data.relative_bounding_box
            kps = tuple((k.x, k.y) for k in d.location_data.relative_keypoints)
            out.append(((bb.xmin, bb.ymin, bb.width, bb.height), float(d.score[0]), kps))
        return out

    def close(self) -> None:
        self._det.close()


def face_backend(name: FaceBackend, min_confidence: float, manifest: Path | None = None,
                 flip: bool = True) -> _Backend:
    """The face model for one tile, run by ``name`` (``ours`` from the model ``manifest``, with the
    mirrored pass when ``flip``)."""
    if name == "litert":
        from edge_agent.vision.blazeface import FullRangeFaceDetector

        return FullRangeFaceDetector(min_confidence)
    if name == "mediapipe":
        return _GraphBackend(min_confidence)
    if name == "ours":
        from edge_agent.inference.manifest import load_manifest, model_entry
        from edge_agent.vision.cpface import OurFaceDetector

        # A signed release made before our detector existed has no "face": the one shipped with the agent
        # serves until a release brings one (a release that has one but fails its checks is refused).
        entry = load_manifest(manifest).get("face") or model_entry("face")
        return OurFaceDetector(entry.verified_path(), min_confidence, flip=flip, version=f"cpface-{entry.version}")
    raise ValueError(f"face detector {name!r} is not one of {', '.join(FACE_BACKENDS)}")


class TiledFaceDetector:
    """A face model over the whole frame plus tile grids (or perspective tiles)."""

    def __init__(self, grids: Sequence[tuple[int, int]] = ((1, 1), (3, 3)), overlap: float = 0.2,
                 min_confidence: float | None = None, refine: bool = False, refine_min_score: float = 0.7,
                 backend: FaceBackend = "litert", manifest: Path | None = None, flip: bool = True):
        """``min_confidence`` None: the backend's own operating point (``GRAPH_MIN_SCORE``, or ours')."""
        if min_confidence is None:
            from edge_agent.vision.cpface import OUR_MIN_SCORE

            min_confidence = OUR_MIN_SCORE if backend == "ours" else GRAPH_MIN_SCORE
        self._det = face_backend(backend, min_confidence, manifest, flip)
        self.backend = backend
        self.grids = [tuple(g) for g in grids]
        self.overlap = overlap
        self.refine = refine
        self.refine_min_score = refine_min_score
        # e.g. mediapipe-face-full-0.10.18-litert-tiles-1x1+3x3-refine: model, then how it was run
        model = (f"{self._det.version}" + ("-flip" if flip else "") if backend == "ours"
                 else f"mediapipe-face-full-{self._det.version}")
        self.version = (f"{model}-tiles-" + "+".join(f"{c}x{r}" for c, r in self.grids)
                        + ("-refine" if refine else ""))

    def _run(self, rgb: np.ndarray, ox: int, oy: int) -> list[tuple[Box, float, tuple]]:
        h, w = rgb.shape[:2]
        out = []
        for (bx, by, bw, bh), score, rel_kps in self._det.detect(rgb):
            kps = tuple((ox + x * w, oy + y * h) for x, y in rel_kps)
            out.append(((ox + bx * w, oy + by * h, bw * w, bh * h), score, kps))
        return out

    def _tile(self, rgb: np.ndarray, tile: tuple[int, int, int, int], whole: bool, min_score: float,
              out: list[Detection]) -> list[Box]:
        H, W = rgb.shape[:2]
        tx, ty, tw, th = tile
        boxes = []
        for box, score, kps in self._run(rgb[ty:ty + th, tx:tx + tw], tx, ty):
            if score >= min_score:
                out.append(Detection(box, score, kps, not whole and touches_inner_edge(box, tile, W, H)))
                boxes.append(box)
        return boxes

    def detect(self, rgb: np.ndarray, area: Box | None = None,
               tiles: Sequence[tuple[int, int, int, int]] | None = None) -> list[Detection]:
        """Faces in an RGB frame. ``tiles`` (e.g. :func:`perspective_tiles`) replaces the grids' tiles."""
        H, W = rgb.shape[:2]
        dets: list[Detection] = []
        if tiles is not None:
            passes = [(True, list(tile_grid(W, H, 1, 1, 0.0, area)))] + [(False, list(tiles))]
        else:
            passes = [((c, r) == (1, 1), tile_grid(W, H, c, r, self.overlap, area)) for c, r in self.grids]
        for whole, tile_list in passes:
            for tile in tile_list:
                found = self._tile(rgb, tile, whole, 0.0, dets)
                if self.refine and not whole and any(b[2] < tile[2] * REFINE_SMALL_FRAC for b in found):
                    tx, ty, tw, th = tile
                    for sx, sy, sw, sh in tile_grid(tw, th, 2, 2, 0.25):
                        self._tile(rgb, (tx + sx, ty + sy, sw, sh), False, self.refine_min_score, dets)
        return nms(dets)

    def close(self) -> None:
        self._det.close()
