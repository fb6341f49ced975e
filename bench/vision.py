"""Whole vision stage on a 1080p frame with ~30 faces, one thread: ms per stage and per frame, peak RSS.

The frame is the sample classroom (composed from a public-domain photo, 30 students) scaled to 1920×1080.
Baseline in the same run: the whole-frame detector alone (``time_x_baseline``: a ratio, because the machine is
shared), run after the stage and after its peak RSS is read. Each configuration runs in its own process so that
its peak RSS is its own:

* ``hands_on`` / ``hands_off`` (policy ``no-emotion``): the 400 MB goal is about these two;
* ``levels`` (policy ``full``, hands on): the frame pinned at each degradation level (edge_agent/vision/degrade.py),
  so the cost of every rung is measured against full work in one process.

Run: OMP_NUM_THREADS=1 python bench/vision.py [--frames 8] [--calibration FILE] [--face-detector ours|litert|mediapipe]
[--tiles 2x1] [--peer litert] (a room profile from ``edge-agent calibrate-camera``: perspective tiles over its
seated area and zones;
``--tiles``: ``vision.tiles`` instead of the detector's default grids, e.g. ``2x1`` = two overlapping halves;
``--peer litert``: every configuration again with MediaPipe's tiled model, interleaved, and ``peer.x_peer`` = frame
and faces-step time ratios and the RSS difference, ours against it).
Prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from edge_agent.config import AgentConfig  # noqa: E402
from edge_agent.vision.degrade import LEVEL_NAMES, available_levels  # noqa: E402
from edge_agent.vision.faces import DEFAULT_FACE_BACKEND, FACE_BACKENDS, FaceBackend, TiledFaceDetector  # noqa: E402
from edge_agent.vision.stage import VisionPipelineStage  # noqa: E402

CONFIGS = {
    "hands_on": {"policy": "no-emotion", "hands": True, "levels": False},
    "hands_off": {"policy": "no-emotion", "hands": False, "levels": False},
    "levels": {"policy": "full", "hands": True, "levels": True},
}


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


def timed(stage: VisionPipelineStage, imgs: list) -> dict:
    """ms per frame and per step over ``imgs`` (after one warm-up frame)."""
    stage.process(0.0, imgs[0])
    steps: dict[str, float] = {}
    faces = 0
    t0 = time.perf_counter()
    for i, f in enumerate(imgs):
        o = stage.process(float(i + 1), f)
        faces += len(o.faces)
        for k, v in stage.stage_ms.items():
            steps[k] = steps.get(k, 0.0) + v
    ms = 1000 * (time.perf_counter() - t0) / len(imgs)
    return {"ms_per_frame": round(ms, 1), "stage_ms": {k: round(v / len(imgs), 1) for k, v in steps.items()},
            "people_per_frame": round(faces / len(imgs), 1)}


def child(name: str, n: int, calibration: str | None, face_detector: FaceBackend = DEFAULT_FACE_BACKEND,
          tiles: list[str] | None = None) -> dict:
    spec = CONFIGS[name]
    cv2.setNumThreads(1)
    imgs = frames(n)
    from calibration.profile import load_profile

    vision: dict = {"hand_raises": spec["hands"], "face_detector": face_detector}
    if tiles:
        vision["tiles"] = [tuple(int(v) for v in t.split("x")) for t in tiles]
    cfg = AgentConfig(policy=spec["policy"], vision=vision)
    stage = VisionPipelineStage(cfg, load_profile(calibration) if calibration else None)
    out: dict = {"config": name, "policy": spec["policy"], "hands": spec["hands"], "calibration": bool(calibration),
                 "students_in_scene": 30}
    levels = available_levels(stage.hands is not None, stage.mesh is not None, stage.expression is not None)
    for lv in (levels if spec["levels"] else (0,)):
        stage.ladder.pin(lv)
        out.setdefault("by_level", {})[f"{lv}:{LEVEL_NAMES[lv]}"] = timed(stage, imgs)
    out["versions"] = stage.model_versions()
    stage.close()
    # the stage's own peak, read before the baseline runs: a whole-frame detector at the frame's own size
    # (ours) holds buffers of its own that the agent never has twice
    out["rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    whole = TiledFaceDetector([(1, 1)], backend=face_detector)
    rgb = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in imgs]
    whole.detect(rgb[0])
    t0 = time.perf_counter()
    n_whole = [len(whole.detect(r)) for r in rgb]
    ms_whole = 1000 * (time.perf_counter() - t0) / len(rgb)
    whole.close()
    out.update(baseline_whole_frame_ms=round(ms_whole, 1), baseline_faces_per_frame=round(sum(n_whole) / len(n_whole), 1))
    for r in out["by_level"].values():
        r["time_x_baseline"] = round(r["ms_per_frame"] / ms_whole, 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--calibration", help="room profile (YAML)")
    ap.add_argument("--only", choices=sorted(CONFIGS), help="run one configuration in this process")
    ap.add_argument("--face-detector", choices=FACE_BACKENDS, default=DEFAULT_FACE_BACKEND,
                    help="vision.face_detector (default: the agent's)")
    ap.add_argument("--tiles", nargs="+", metavar="CxR", help="vision.tiles, e.g. 2x1 (default: the detector's)")
    ap.add_argument("--peer", choices=FACE_BACKENDS, help="also run every configuration with this detector (its "
                    "default tiles), alternating which goes first, and report ratios to it (same run)")
    args = ap.parse_args()
    if args.only:
        print(json.dumps(child(args.only, args.frames, args.calibration, args.face_detector, args.tiles)))
        return
    results: dict = {}
    peer: dict = {}
    runs = [(results, args.face_detector, args.tiles)] + ([(peer, args.peer, None)] if args.peer else [])
    for i, name in enumerate(CONFIGS):
        for into, det, tiles in runs[::-1] if i % 2 else runs:  # alternate which runs first
            into[name] = _run(name, det, tiles, args)
            print(json.dumps(into[name]), file=sys.stderr)
    lv = results["levels"]["by_level"]
    full_ms = lv["0:full"]["ms_per_frame"]
    summary = {
        "rss_mb_hands_on": results["hands_on"]["rss_mb"], "rss_mb_hands_off": results["hands_off"]["rss_mb"],
        "rss_mb_full_policy": results["levels"]["rss_mb"], "rss_goal_mb": 400,
        "level_cost_x_full": {k: round(v["ms_per_frame"] / full_ms, 2) for k, v in lv.items()},
        "results": results,
    }
    if peer:
        summary["peer"] = {"face_detector": args.peer, "x_peer": {name: _ratios(results[name], peer[name]) for name in CONFIGS},
                           "results": peer}
    print(json.dumps(summary))


def _run(name: str, detector: str, tiles: list[str] | None, args: argparse.Namespace) -> dict:
    """One configuration in a process of its own, so its peak RSS is its own."""
    cmd = [sys.executable, __file__, "--only", name, "--frames", str(args.frames), "--face-detector", detector]
    if tiles:
        cmd += ["--tiles", *tiles]
    if args.calibration:
        cmd += ["--calibration", args.calibration]
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def _ratios(ours: dict, peer: dict) -> dict:
    """Frame time, faces-step time and peak RSS of a configuration against the peer's (full work)."""
    a, b = ours["by_level"]["0:full"], peer["by_level"]["0:full"]
    return {"frame_ms": round(a["ms_per_frame"] / b["ms_per_frame"], 2),
            "faces_ms": round(a["stage_ms"]["faces"] / b["stage_ms"]["faces"], 2),
            "rss_mb": round(ours["rss_mb"] - peer["rss_mb"], 1)}


if __name__ == "__main__":
    main()
