"""Face recall/precision on a crowd set, whole frame vs tiled grids (and refinement), in one run (ratios vs whole frame).

Run: OMP_NUM_THREADS=1 python bench/faces.py --images ../shared/data/wider_dev --gt ../shared/data/wider_dev/gt.json
Prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from edge_agent.evaluation.faces import run  # noqa: E402

VARIANTS = {"whole": ([(1, 1)], False), "whole+2x2": ([(1, 1), (2, 2)], False),
            "whole+3x3": ([(1, 1), (3, 3)], False), "whole+3x3+refine (default)": ([(1, 1), (3, 3)], True),
            "whole+4x4": ([(1, 1), (4, 4)], False), "whole+2x2+4x4": ([(1, 1), (2, 2), (4, 4)], False)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", required=True)
    ap.add_argument("--gt", required=True)
    args = ap.parse_args()
    out = {name: run(Path(args.images), Path(args.gt), grids, refine=refine)
           for name, (grids, refine) in VARIANTS.items()}
    base = out["whole"]
    for r in out.values():
        r["recall_x_whole"] = round(r["recall"] / base["recall"], 2)
        r["time_x_whole"] = round(r["ms_per_image"] / base["ms_per_image"], 2)
        print(json.dumps(r), file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
