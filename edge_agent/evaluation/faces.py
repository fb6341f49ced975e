"""``edge-agent eval faces``: recall and precision of the room face detector on labelled images.

Recall counts ground-truth faces at least ``MIN_FACE_PX`` wide matched at IoU ≥ 0.3;
precision is the share of detections that match any ground-truth box (all sizes
in the file). Matching is one-to-one, greedy by IoU. ``recall_by_size`` splits the
recall by the ground-truth box's width in pixels (the width the ``MIN_FACE_PX`` rule
reads): 16–31, 32–63 and ≥ 64 px, with ``n_faces_by_size`` faces in each.

:func:`run_variants` runs several detector settings over the same images in one pass,
each image through every detector in turn (the order rotating from image to image), so
their ms/image can be compared within one run on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2

from edge_agent.vision.faces import Box, FaceBackend, TiledFaceDetector, iou

MIN_FACE_PX = 16
IOU_MATCH = 0.3
#: Face-size buckets for ``recall_by_size``: name, lowest width (inclusive), highest width (exclusive), px.
SIZE_BUCKETS: tuple[tuple[str, float, float], ...] = (("16-31", MIN_FACE_PX, 32), ("32-63", 32, 64),
                                                      (">=64", 64, float("inf")))


def match(dets: list[Box], gts: list[Box]) -> tuple[set[int], set[int]]:
    """Greedy one-to-one matching at IoU ≥ 0.3; returns (matched det indices, matched gt indices)."""
    pairs = sorted(((iou(d, g), i, j) for i, d in enumerate(dets) for j, g in enumerate(gts)), reverse=True)
    md: set[int] = set()
    mg: set[int] = set()
    for v, i, j in pairs:
        if v < IOU_MATCH:
            break
        if i not in md and j not in mg:
            md.add(i)
            mg.add(j)
    return md, mg


def size_bucket(width: float) -> str | None:
    """The ``SIZE_BUCKETS`` name for a ground-truth face this wide, None below ``MIN_FACE_PX``."""
    return next((name for name, lo, hi in SIZE_BUCKETS if lo <= width < hi), None)


class Tally:
    """Counts over images for one detector setting; :meth:`result` gives the eval's numbers."""

    def __init__(self) -> None:
        self.n_gt = self.hit = self.n_det = self.good_det = self.n_img = 0
        self.elapsed = 0.0
        self.by_size = {name: [0, 0] for name, _, _ in SIZE_BUCKETS}  # faces, matched

    def add(self, found: list[Box], gts: list[Box], seconds: float = 0.0) -> None:
        md, mg = match(found, gts)
        for j, g in enumerate(gts):
            bucket = size_bucket(g[2])
            if bucket is not None:
                self.n_gt += 1
                self.hit += j in mg
                self.by_size[bucket][0] += 1
                self.by_size[bucket][1] += j in mg
        self.n_det += len(found)
        self.good_det += len(md)
        self.elapsed += seconds
        self.n_img += 1

    def result(self) -> dict[str, Any]:
        return {"n_faces": self.n_gt, "recall": round(self.hit / self.n_gt, 4) if self.n_gt else None,
                "precision": round(self.good_det / self.n_det, 4) if self.n_det else None,
                "ms_per_image": round(1000 * self.elapsed / max(1, self.n_img), 1), "n_images": self.n_img,
                "recall_by_size": {k: round(h / n, 4) if n else None for k, (n, h) in self.by_size.items()},
                "n_faces_by_size": {k: n for k, (n, _) in self.by_size.items()}}


def detector(grids: list[tuple[int, int]] | None = None, overlap: float = 0.2, refine: bool | None = None,
             backend: FaceBackend | None = None, min_confidence: float | None = None,
             flip: bool | None = None) -> TiledFaceDetector:
    """The room face detector; unset arguments take the agent's defaults (``VisionConfig``)."""
    from edge_agent.config import VisionConfig

    d = VisionConfig(face_detector=backend) if backend else VisionConfig()
    return TiledFaceDetector(grids or d.tiles, overlap=overlap,
                             min_confidence=d.min_detection_confidence if min_confidence is None else min_confidence,
                             refine=d.refine_small_faces if refine is None else refine,
                             backend=backend or d.face_detector, flip=d.face_flip_tta if flip is None else flip)


def run_variants(images: Path, gt_file: Path, variants: Mapping[str, Mapping[str, Any]]) -> dict[str, dict]:
    """Evaluate several settings (``variants``: name → :func:`detector` keyword arguments) on the same images.

    Each image is read once and given to every detector in turn, the first detector rotating from one
    image to the next; only ``detect`` is timed.
    """
    gt = json.loads(gt_file.read_text(encoding="utf-8"))
    names = list(variants)
    dets: dict[str, TiledFaceDetector] = {}
    try:
        for name in names:
            dets[name] = detector(**variants[name])
        tallies = {name: Tally() for name in names}
        try:
            from tqdm import tqdm
        except ImportError:  # pragma: no cover
            def tqdm(x, **k):  # noqa: ANN001, ANN202
                return x
        for k, (fname, boxes) in enumerate(tqdm(sorted(gt.items()), desc="faces", file=sys.stderr)):
            img = cv2.imread(str(images / fname))
            if img is None:
                raise OSError(f"cannot read image {images / fname}")
            rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            gts = [tuple(map(float, b)) for b in boxes]
            for i in range(len(names)):
                name = names[(k + i) % len(names)]
                t0 = time.perf_counter()
                found = [d.box for d in dets[name].detect(rgb)]
                tallies[name].add(found, gts, time.perf_counter() - t0)
    finally:
        for d in dets.values():
            d.close()
    return {name: {**tallies[name].result(), "grids": [list(g) for g in dets[name].grids],
                   "refine": dets[name].refine, "backend": dets[name].backend, "model": dets[name].version}
            for name in names}


def run(images: Path, gt_file: Path, grids: list[tuple[int, int]] | None = None, overlap: float = 0.2,
        refine: bool | None = None, backend: FaceBackend | None = None,
        min_confidence: float | None = None, flip: bool | None = None) -> dict:
    """Evaluate the detector; unset arguments take the agent's defaults (``VisionConfig``)."""
    return run_variants(images, gt_file, {"run": {"grids": grids, "overlap": overlap, "refine": refine,
                                                  "backend": backend, "min_confidence": min_confidence,
                                                  "flip": flip}})["run"]


def main(args: argparse.Namespace) -> int:
    """``--face-detector`` and ``--min-confidence`` override the config's (or the default) vision section; a
    detector named on the command line keeps its own defaults for what the config does not set."""
    from edge_agent.config import VisionConfig

    given: dict[str, Any] = {}
    if getattr(args, "config", None):
        from edge_agent.config import load_agent_config

        given = load_agent_config(args.config).vision.model_dump(exclude_unset=True)
    if getattr(args, "face_detector", None):
        given["face_detector"] = args.face_detector
    if getattr(args, "min_confidence", None) is not None:
        given["min_detection_confidence"] = args.min_confidence
    v = VisionConfig(**given)
    print(json.dumps(run(Path(args.images), Path(args.gt), [tuple(g) for g in v.tiles], refine=v.refine_small_faces,
                         backend=v.face_detector, min_confidence=v.min_detection_confidence,
                         flip=v.face_flip_tta)))
    return 0
