"""Whole-room face detection: MediaPipe's full-range detector over overlapping tiles, merged by NMS.

The detector sees a 192 px input; on a 1080p classroom frame that makes a 25 px
face 4 px wide, so it is run on tiles as well as on the whole frame. Detections
that touch an inner tile edge are likely cut faces and are dropped when another
tile (or the whole frame) covers them better. Pure geometry lives in functions
below so that tests can check it without a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


class TiledFaceDetector:
    """MediaPipe full-range face detection over the whole frame plus tile grids."""

    def __init__(self, grids: Sequence[tuple[int, int]] = ((1, 1), (3, 3)), overlap: float = 0.2,
                 min_confidence: float = 0.5, upscale_small_tiles_to: int = 0):
        import mediapipe as mp

        self._det = mp.solutions.face_detection.FaceDetection(model_selection=1,
                                                              min_detection_confidence=min_confidence)
        self.grids = [tuple(g) for g in grids]
        self.overlap = overlap
        self.version = f"mediapipe-face-full-{mp.__version__}-tiles-" + "+".join(f"{c}x{r}" for c, r in self.grids)

    def _run(self, rgb: np.ndarray, ox: int, oy: int) -> list[tuple[Box, float, tuple]]:
        h, w = rgb.shape[:2]
        res = self._det.process(np.ascontiguousarray(rgb))
        out = []
        for d in res.detections or ():
            bb = d.location_data.relative_bounding_box
            box = (ox + bb.xmin * w, oy + bb.ymin * h, bb.width * w, bb.height * h)
            kps = tuple((ox + k.x * w, oy + k.y * h) for k in d.location_data.relative_keypoints)
            out.append((box, float(d.score[0]), kps))
        return out

    def detect(self, rgb: np.ndarray, area: Box | None = None) -> list[Detection]:
        H, W = rgb.shape[:2]
        dets: list[Detection] = []
        for cols, rows in self.grids:
            for tile in tile_grid(W, H, cols, rows, self.overlap, area):
                tx, ty, tw, th = tile
                for box, score, kps in self._run(rgb[ty:ty + th, tx:tx + tw], tx, ty):
                    cut = (cols, rows) != (1, 1) and touches_inner_edge(box, tile, W, H)
                    dets.append(Detection(box, score, kps, cut))
        return nms(dets)

    def close(self) -> None:
        self._det.close()
