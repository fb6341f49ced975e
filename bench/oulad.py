"""Early-warning model vs the plain baseline on OULAD, days 30/60/90, in one run.

Dev protocol: train on 2013B+2013J, test on 2014B (split from one OULAD folder into temp dirs).
Run: OMP_NUM_THREADS=1 python bench/oulad.py --data ../shared/data/oulad
Prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cloud_aggregator.warnings.oulad_eval import BASELINE_FEATURES, evaluate  # noqa: E402


def split(src: Path, dst: Path, presentations: set[str]) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    ass = pd.read_csv(src / "assessments.csv")
    ids = set(ass[ass.code_presentation.isin(presentations)].id_assessment)
    for f in src.glob("*.csv"):
        df = pd.read_csv(f, low_memory=False)
        keep = df.code_presentation.isin(presentations) if "code_presentation" in df else df.id_assessment.isin(ids)
        df[keep].to_csv(dst / f.name, index=False)
    return dst


def gaps(r: dict) -> dict:
    out = {}
    for col in ("gender", "age_band"):
        vals = [v for v in r["auc_by_group"][col].values() if v is not None]
        out[col] = round(max(vals) - min(vals), 4) if len(vals) > 1 else None
    out["max_calibration_gap"] = round(max(abs(v) for g in r["calibration_gap_by_group"].values()
                                           for v in g.values()), 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/oulad")
    ap.add_argument("--days", default="30,60,90")
    args = ap.parse_args()
    src = Path(args.data)
    with tempfile.TemporaryDirectory() as tmp:
        tr = split(src, Path(tmp) / "train", {"2013B", "2013J"})
        te = split(src, Path(tmp) / "test", {"2014B"})
        res = {}
        for d in (int(x) for x in args.days.split(",")):
            ours = evaluate(tr, te, d)
            base = evaluate(tr, te, d, BASELINE_FEATURES)
            res[f"day{d}"] = {"ours": {k: ours[k] for k in ("auc", "pr_auc", "precision_at_10pct")} | gaps(ours),
                              "baseline": {k: base[k] for k in ("auc", "pr_auc", "precision_at_10pct")} | gaps(base),
                              "auc_x_baseline": round(ours["auc"] / base["auc"], 3),
                              "auc_by_group": ours["auc_by_group"]}
            print(json.dumps({d: res[f"day{d}"]["ours"]}), file=sys.stderr)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
