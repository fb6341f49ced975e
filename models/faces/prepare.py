"""Training labels for our face detector: WIDER FACE boxes, held-out events removed, keypoints from a teacher.

Reproduce (from the repo root, in the edge environment, which has the teacher):
    python models/faces/prepare.py --images WIDER_val/images --labels label.txt --out faces_train.json

``--images`` is WIDER FACE's validation image folder and ``--labels`` its box list in the original
``wider_face_val_bbx_gt.txt`` layout (file name, count, then ``x y w h blur expression illumination
invalid occlusion pose`` per face). Nothing of either is committed or read at run time.

* **Held out** (never trained on): the events ``../shared/data/wider_dev`` was drawn from (Meeting,
  Press_Conference, Sports_Fan, Award_Ceremony, Family_Group, Celebration_Or_Party) and the two closest
  to a classroom (Group, Students_Schoolkids), so that both stay unseen photos for the evaluation.
* **Ignored, not negative**: faces narrower than ``MIN_FACE_PX`` or marked invalid: the detector is
  neither taught to find them nor punished for finding them.
* **Keypoints** (MediaPipe's six: eyes, nose tip, mouth, ears) come from MediaPipe's full-range model,
  bundled in our pinned dependency (Apache-2.0), run on an upscaled crop around each face
  (``edge_agent.vision.crop_keypoints``, the same function the agent uses); faces where it finds nothing
  matching keep no keypoints and train only the box.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

#: WIDER event numbers never trained on (see the module docstring).
HELD_OUT_EVENTS = frozenset({9, 11, 12, 16, 20, 28, 29, 50})
MIN_FACE_PX = 6


def parse_wider(path: Path) -> dict[str, list[list[int]]]:
    """``{relative image path: [[x, y, w, h, invalid], ...]}`` from a WIDER ``bbx_gt`` list."""
    lines = [ln.strip() for ln in path.read_text().splitlines()]
    out: dict[str, list[list[int]]] = {}
    i = 0
    while i < len(lines):
        name = lines[i]
        if not name:
            i += 1
            continue
        n = int(lines[i + 1])
        rows = lines[i + 2:i + 2 + max(n, 1)]  # a file with 0 faces still has one line of zeros
        boxes = []
        for r in rows[:n]:
            v = [int(float(t)) for t in r.split()[:10]]
            boxes.append([v[0], v[1], v[2], v[3], v[7]])
        out[name] = boxes
        i += 2 + max(n, 1)
    return out


def event_of(name: str) -> int:
    return int(name.split("--", 1)[0])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=Path, required=True)
    ap.add_argument("--labels", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--teacher-min-px", type=int, default=10, help="smallest face the teacher is asked about")
    args = ap.parse_args(argv)

    from edge_agent.vision.crop_keypoints import CropKeypoints

    teacher = CropKeypoints(min_score=0.5)
    wider = parse_wider(args.labels)
    t0, out, n_faces, n_kps = time.time(), [], 0, 0
    for name, boxes in sorted(wider.items()):
        if event_of(name) in HELD_OUT_EVENTS:
            continue
        bgr = cv2.imread(str(args.images / name))
        if bgr is None:
            continue
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        faces, ignore = [], []
        for x, y, w, h, invalid in boxes:
            if invalid or min(w, h) < MIN_FACE_PX:
                if w > 0 and h > 0:
                    ignore.append([x, y, w, h])
                continue
            kps = teacher.keypoints(rgb, (x, y, w, h)) if min(w, h) >= args.teacher_min_px else None
            faces.append({"box": [x, y, w, h], "kps": None if kps is None else [[round(a, 2), round(b, 2)]
                                                                                for a, b in kps]})
            n_faces += 1
            n_kps += kps is not None
        out.append({"file": name, "faces": faces, "ignore": ignore})
    args.out.write_text(json.dumps({"held_out_events": sorted(HELD_OUT_EVENTS), "min_face_px": MIN_FACE_PX,
                                    "images": out}))
    print(json.dumps({"images": len(out), "faces": n_faces, "with_keypoints": n_kps,
                      "seconds": round(time.time() - t0, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
