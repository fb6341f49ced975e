"""Whole vision stage on a 1080p frame with ~30 faces, one thread: ms per stage and per frame, peak RSS.

The frame is the sample classroom (composed from a public-domain photo, 30 students) scaled to 1920×1080.
Baseline in the same run: the whole-frame detector alone. Policy `full` adds our expression model.
Run: OMP_NUM_THREADS=1 python bench/vision.py [--policy full|no-emotion] [--frames 10] [--calibration FILE]
(a room profile from ``edge-agent calibrate-camera``: perspective tiles over its seated area and zones).
Prints one JSON object on its last line with ms_per_frame and rss_mb.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from edge_agent.config import AgentConfig  # noqa: E402
from edge_agent.vision.faces import TiledFaceDetector  # noqa: E402
from edge_agent.vision.stage import VisionPipelineStage  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def frames(n: int) -> list:
    cap = cv2.VideoCapture(str(REPO / "samples" / "classroom.mp4"))
    out = []
    while len(out) < n:
        ok, f = cap.read()
        if not ok:
            break
        out.append(cv2.resize(f, (1920, 1080), interpolation=cv2.INTER_LINEAR))
        for _ in range(7):
            cap.grab()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--policy", default="full")
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--calibration", help="room profile (YAML)")
    ap.add_argument("--no-hands", action="store_true", help="leave hand-raise detection off")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    imgs = frames(args.frames)
    whole = TiledFaceDetector([(1, 1)])
    rgb = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in imgs]
    whole.detect(rgb[0])
    t0 = time.perf_counter()
    n_whole = [len(whole.detect(r)) for r in rgb]
    ms_whole = 1000 * (time.perf_counter() - t0) / len(rgb)
    from calibration.profile import load_profile

    cfg = AgentConfig(policy=args.policy, vision={"hand_raises": not args.no_hands})
    stage = VisionPipelineStage(cfg, load_profile(args.calibration) if args.calibration else None)
    stage.process(0.0, imgs[0])
    t0 = time.perf_counter()
    faces = []
    for i, f in enumerate(imgs):
        faces.append(len(stage.process(float(i), f).faces))
    ms = 1000 * (time.perf_counter() - t0) / len(imgs)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {"ms_per_frame": round(ms, 1), "fps": round(1000 / ms, 2), "rss_mb": round(rss, 1),
           "faces_per_frame": round(sum(faces) / len(faces), 1), "students_in_scene": 30,
           "baseline_whole_frame_ms": round(ms_whole, 1), "baseline_faces_per_frame": round(sum(n_whole) / len(n_whole), 1),
           "time_x_baseline": round(ms / ms_whole, 2), "policy": args.policy,
           "calibration": bool(args.calibration), "hands": not args.no_hands, "versions": stage.model_versions()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
