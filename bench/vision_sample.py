"""The vision stage on the whole sample classroom against its truth file: faces, attention, hand raises.

Turned-away students: ``turned_away_found`` of ``turned_away_truth`` (student-frames, summed), and
``turned_away_over`` (frames × students reported away beyond the truth). Compares, in one run, MediaPipe's
model on its grid (whole + 3×3 + refinement, the default before issue #22) and the agent's default, our own
detector (``ours``, two overlapping halves), both without a room profile, then ours with the sample room profile
(calibrated with ours); ``--litert-profile FILE`` adds MediaPipe's model on a profile calibrated with it
(perspective tiles). ``faces_x_grid``/``time_x_grid`` are ratios to the grid row.
Run: OMP_NUM_THREADS=1 python bench/vision_sample.py [--profile calibration/rooms/sample-classroom.yaml]
Prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from calibration.profile import load_profile  # noqa: E402
from edge_agent.config import AgentConfig  # noqa: E402
from edge_agent.vision.stage import VisionPipelineStage  # noqa: E402
from edge_agent.window import count_hand_raises  # noqa: E402


def run(profile_path: str | None, every: int, face_detector: str = "litert") -> dict:
    truth = json.loads((REPO / "samples" / "classroom.truth.json").read_text())
    cfg = AgentConfig(policy="no-emotion", vision={"face_detector": face_detector})
    stage = VisionPipelineStage(cfg, load_profile(profile_path) if profile_path else None)
    cap = cv2.VideoCapture(str(REPO / "samples" / "classroom.mp4"))
    obs, seen, facing, up_tp, up_truth, away, away_truth, away_over = [], 0, 0, 0, 0, 0, 0, 0
    t0 = time.perf_counter()
    i = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if i % every == 0:
            o = stage.process(i / truth["fps"], frame)
            obs.append(o)
            t = truth["frames"][i]
            n_away = sum(not f.facing for f in o.faces)
            seen += len(o.faces) - n_away
            facing += t["facing"]
            away += n_away
            away_truth += t["students"] - t["facing"]
            away_over += max(0, n_away - (t["students"] - t["facing"]))
            up_tp += min(len(o.hands_raised), t["hands_up"])
            up_truth += t["hands_up"]
        i += 1
    ms = 1000 * (time.perf_counter() - t0) / max(1, len(obs))
    stage.close()
    posed = [f.attentive for o in obs for f in o.faces if f.attentive is not None]
    return {"profile": profile_path, "face_detector": face_detector, "model": stage.detector.version,
            "frames": len(obs), "ms_per_frame": round(ms, 1),
            "faces_per_frame": round(seen / len(obs), 1), "facing_per_frame": round(facing / len(obs), 1),
            "attention_share": round(sum(posed) / len(posed), 3) if posed else None,
            "turned_away_found": away, "turned_away_truth": away_truth, "turned_away_over": away_over,
            "hand_episodes": count_hand_raises(obs), "hand_episodes_truth": truth["hand_raise_episodes"],
            "raised_frames_found": up_tp, "raised_frames_truth": up_truth}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default=str(REPO / "calibration" / "rooms" / "sample-classroom.yaml"),
                    help="room profile calibrated with our detector")
    ap.add_argument("--litert-profile", help="room profile calibrated with --face-detector litert")
    ap.add_argument("--every", type=int, default=2, help="process every Nth frame of the 4 fps video")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    base = run(None, args.every)
    print(json.dumps(base), file=sys.stderr)
    out = {"grid": base, "ours": run(None, args.every, "ours"), "ours_profile": run(args.profile, args.every, "ours")}
    if args.litert_profile:
        out["profile"] = run(args.litert_profile, args.every)
    for name in [k for k in out if k != "grid"]:
        out[f"faces_x_grid_{name}"] = round(out[name]["faces_per_frame"] / base["faces_per_frame"], 2)
        out[f"time_x_grid_{name}"] = round(out[name]["ms_per_frame"] / base["ms_per_frame"], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
