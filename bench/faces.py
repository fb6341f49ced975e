"""Face recall/precision on a crowd set, whole frame vs tiled grids (and refinement), per backend, in one run.

Run: OMP_NUM_THREADS=1 python bench/faces.py --images ../shared/data/wider_dev --gt ../shared/data/wider_dev/gt.json

By default the issue #22 rows: MediaPipe's full-range model run by each MediaPipe backend in ``--backends``
(``mediapipe``: its graph, ``litert``: our decoder) on the whole frame and on its default tiling (whole + 3×3 +
refinement), and our own detector (``ours``) on the whole frame, whole + 2×2 tiles and the agent's default
tiles-only grid (``--our-tiles 2x1 2x2`` for others). ``--scores 0.4 0.5 0.6`` adds our detector's whole-frame
and tiles-only rows at each of those score thresholds (the operating-point sweep). ``--sweep`` runs the former
grid sweep (2×2 … 2×2+4×4) for each MediaPipe backend.
Every variant sees each image in turn, the first one rotating from image to image
(``edge_agent.evaluation.faces.run_variants``), so ratios are same-run ratios: ``time_x_ref``/``recall_x_ref``
against MediaPipe tiled (the graph's, or the first MediaPipe backend's), ``time_x_whole``/``recall_x_whole``
against the same backend's whole frame. Each row also has recall by face size (16–31, 32–63, ≥ 64 px).
Prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from edge_agent.config import VisionConfig  # noqa: E402
from edge_agent.evaluation.faces import run_variants  # noqa: E402
from edge_agent.vision.faces import FACE_BACKENDS  # noqa: E402

DEFAULT = "whole+3x3+refine (default)"
VARIANTS = {"whole": ([(1, 1)], False), "whole+2x2": ([(1, 1), (2, 2)], False),
            "whole+3x3": ([(1, 1), (3, 3)], False), DEFAULT: ([(1, 1), (3, 3)], True),
            "whole+4x4": ([(1, 1), (4, 4)], False), "whole+2x2+4x4": ([(1, 1), (2, 2), (4, 4)], False)}
COMPACT = ("whole", DEFAULT)  # the issue #22 table


def _grid(name: str) -> tuple[int, int]:
    c, r = name.lower().split("x")
    return int(c), int(r)


def _name(grid: tuple[int, int]) -> str:
    return f"{grid[0]}x{grid[1]}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", required=True)
    ap.add_argument("--gt", required=True)
    ap.add_argument("--backends", nargs="+", choices=FACE_BACKENDS, default=["mediapipe", "litert", "ours"],
                    help="face models and how they run (default: all three)")
    ap.add_argument("--sweep", action="store_true", help="every grid variant for the MediaPipe backends")
    ap.add_argument("--scores", nargs="*", type=float, default=[],
                    help="extra score thresholds for ours (whole frame and each --our-tiles grid)")
    ap.add_argument("--our-tiles", nargs="*", default=[_name(VisionConfig().tiles[0])], metavar="CxR",
                    help="tiles-only grids for ours (default: the agent's, "
                         f"{_name(VisionConfig().tiles[0])})")
    args = ap.parse_args()
    backends = list(dict.fromkeys(args.backends))
    mp = [b for b in backends if b != "ours"]
    names = list(VARIANTS) if args.sweep else list(COMPACT)
    variants: dict[str, dict] = {f"{b} {n}": {"grids": VARIANTS[n][0], "refine": VARIANTS[n][1], "backend": b}
                                 for n in names for b in mp}  # alternate backends within each variant
    if "ours" in backends:
        variants["ours whole"] = {"grids": [(1, 1)], "refine": False, "backend": "ours"}
        variants["ours whole+2x2"] = {"grids": [(1, 1), (2, 2)], "refine": False, "backend": "ours"}
        tilings = {"whole": [(1, 1)]} | {g: [_grid(g)] for g in args.our_tiles}
        for name, grids in list(tilings.items())[1:]:
            variants[f"ours {name}"] = {"grids": grids, "refine": False, "backend": "ours"}
        for t in args.scores:
            for name, grids in tilings.items():
                variants[f"ours {name} @{t:g}"] = {"grids": grids, "refine": False, "backend": "ours",
                                                   "min_confidence": t}
    out = run_variants(Path(args.images), Path(args.gt), variants)
    ref = f"{'mediapipe' if 'mediapipe' in backends else (mp or backends)[0]} {DEFAULT}"
    ref = ref if ref in out else next(iter(out))
    for key, r in out.items():
        base = out[f"{r['backend']} whole"]
        r["recall_x_whole"] = _ratio(r["recall"], base["recall"])
        r["time_x_whole"] = _ratio(r["ms_per_image"], base["ms_per_image"])
        r["recall_x_ref"] = _ratio(r["recall"], out[ref]["recall"])
        r["time_x_ref"] = _ratio(r["ms_per_image"], out[ref]["ms_per_image"])
        print(key, json.dumps(r), file=sys.stderr)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(json.dumps({"ref": ref, "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "load_1min_at_end": load,
                      "variants": out}))


if __name__ == "__main__":
    main()
