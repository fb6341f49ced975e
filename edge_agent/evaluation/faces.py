"""``edge-agent eval faces``: recall and precision of the room face detector on labelled images.

Recall counts ground-truth faces at least ``MIN_FACE_PX`` wide matched at IoU ≥ 0.3;
precision is the share of detections that match any ground-truth box (all sizes
in the file). Matching is one-to-one, greedy by IoU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2

from edge_agent.vision.faces import Box, FaceBackend, TiledFaceDetector, iou

MIN_FACE_PX = 16
IOU_MATCH = 0.3


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


def run(images: Path, gt_file: Path, grids: list[tuple[int, int]] | None = None, overlap: float = 0.2,
        refine: bool | None = None, backend: FaceBackend | None = None,
        min_confidence: float | None = None) -> dict:
    """Evaluate the detector; unset arguments take the agent's defaults (``VisionConfig``)."""
    from edge_agent.config import VisionConfig

    d = VisionConfig()
    gt = json.loads(gt_file.read_text(encoding="utf-8"))
    det = TiledFaceDetector(grids or d.tiles, overlap=overlap,
                            min_confidence=d.min_detection_confidence if min_confidence is None else min_confidence,
                            refine=d.refine_small_faces if refine is None else refine,
                            backend=backend or d.face_detector)
    n_gt = hit = n_det = good_det = 0
    elapsed = 0.0
    n_img = 0
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        def tqdm(x, **k):  # noqa: ANN001, ANN202
            return x
    for name, boxes in tqdm(sorted(gt.items()), desc="faces", file=sys.stderr):
        img = cv2.imread(str(images / name))
        if img is None:
            raise OSError(f"cannot read image {images / name}")
        rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        t0 = time.perf_counter()
        found = [d.box for d in det.detect(rgb)]
        elapsed += time.perf_counter() - t0
        n_img += 1
        gts = [tuple(map(float, b)) for b in boxes]
        md, mg = match(found, gts)
        big = [j for j, g in enumerate(gts) if g[2] >= MIN_FACE_PX]
        n_gt += len(big)
        hit += sum(1 for j in big if j in mg)
        n_det += len(found)
        good_det += len(md)
    det.close()
    return {"n_faces": n_gt, "recall": round(hit / n_gt, 4) if n_gt else None,
            "precision": round(good_det / n_det, 4) if n_det else None,
            "ms_per_image": round(1000 * elapsed / max(1, n_img), 1), "n_images": n_img,
            "grids": [list(g) for g in det.grids], "refine": det.refine, "model": det.version}


def main(args: argparse.Namespace) -> int:
    """``--face-detector`` and ``--min-confidence`` override the config's (or the default) vision section."""
    grids, refine, backend, conf = None, None, None, None
    if getattr(args, "config", None):
        from edge_agent.config import load_agent_config

        cfg = load_agent_config(args.config)
        grids, refine = [tuple(g) for g in cfg.vision.tiles], cfg.vision.refine_small_faces
        backend, conf = cfg.vision.face_detector, cfg.vision.min_detection_confidence
    backend = getattr(args, "face_detector", None) or backend
    conf = conf if getattr(args, "min_confidence", None) is None else args.min_confidence
    print(json.dumps(run(Path(args.images), Path(args.gt), grids, refine=refine, backend=backend,
                         min_confidence=conf)))
    return 0
