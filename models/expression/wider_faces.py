"""Unlabelled faces for distillation: WIDER FACE boxes cut the way the agent cuts its crops.

Reproduce (from the repo root, in the edge environment):
    python models/expression/wider_faces.py --images WIDER_val/images --labels label.txt --out wider_faces.npz

Why: FER2013 has 28 709 labelled training faces; a teacher can label more. Crowd photos of meetings,
parades and classrooms are also closer to what a classroom camera sees than FER's web portraits. Each
face is cut with ``face_crop_gray48``, the agent's own crop (square, 10 % margin, grayscale, 48×48), so
the student learns on the input the box will feed it. Only faces at least ``--min-px`` wide, not
marked invalid, from events outside the face detector's held-out set are kept. Nothing of WIDER is
committed or read at run time; the output holds crops only and stays outside the repository.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faces"))
from prepare import HELD_OUT_EVENTS, event_of, parse_wider  # noqa: E402  models/faces/prepare.py

from edge_agent.inference.preprocess import face_crop_gray48  # noqa: E402


def crops(images: Path, labels: Path, min_px: int) -> tuple[np.ndarray, list[str]]:
    """48×48 gray crops of every kept face, and the image each came from (in the same order)."""
    out, src = [], []
    for name, boxes in sorted(parse_wider(labels).items()):
        if event_of(name) in HELD_OUT_EVENTS:
            continue
        keep = [b for b in boxes if b[2] >= min_px and b[3] >= min_px and not b[4]]
        if not keep:
            continue
        bgr = cv2.imread(str(images / name))
        if bgr is None:
            raise SystemExit(f"cannot read {images / name}")
        for x, y, w, h, _ in keep:
            out.append(face_crop_gray48(bgr, (x, y, w, h)))
            src.append(name)
    return np.stack(out).astype(np.uint8), src


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=Path, required=True)
    ap.add_argument("--labels", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--min-px", type=int, default=40, help="narrowest face kept (FER2013 faces are 48 px)")
    args = ap.parse_args(argv)
    x, src = crops(args.images, args.labels, args.min_px)
    np.savez_compressed(args.out, x_extra=x, source=np.array(src))
    print(f"{len(x)} faces from {len(set(src))} images -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
