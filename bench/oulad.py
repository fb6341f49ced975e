"""Early-warning model vs the plain baseline on OULAD, days 30/60/90, in one run.

Protocols (each trains only on what was known by day D of every train presentation):

* ``lopo``: leave one presentation out within the train presentations (2013B→2013J, 2013J→2013B);
  model selection was done on these numbers only.
* ``dev``: train 2013B+2013J, test 2014B (the issue's dev split), reported once per variant.
* ``check``: train 2013B+2014B, test 2013J (a second unseen presentation; note it trains on a later one).

Run: OMP_NUM_THREADS=1 python bench/oulad.py --data ../shared/data/oulad
Prints one line per protocol and day on stderr and one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cloud_aggregator.records.oulad import load_oulad_tables, subset_tables  # noqa: E402
from cloud_aggregator.warnings.oulad_eval import evaluate_frames, train_frame  # noqa: E402
from cloud_aggregator.warnings.oulad_features import build_features  # noqa: E402

PROTOCOLS = {"lopo_B_to_J": ({"2013B"}, {"2013J"}), "lopo_J_to_B": ({"2013J"}, {"2013B"}),
             "dev": ({"2013B", "2013J"}, {"2014B"}), "check": ({"2013B", "2014B"}, {"2013J"})}
HEADLINE = ("auc", "pr_auc", "precision_at_10pct")


def gaps(r: dict) -> dict:
    """Largest AUC difference between values of gender and of age band, and the largest |calibration gap|."""
    out = {}
    for col in ("gender", "age_band"):
        vals = [v for v in r["auc_by_group"][col].values() if v is not None]
        out[f"{col}_auc_gap"] = round(max(vals) - min(vals), 4) if len(vals) > 1 else None
    out["max_calibration_gap"] = round(max(abs(v) for g in r["calibration_gap_by_group"].values()
                                           for v in g.values()), 4)
    return out


def parser(doc: str | None = None) -> argparse.ArgumentParser:
    """The options every OULAD bench shares (data folder, days, protocols)."""
    ap = argparse.ArgumentParser(description=doc)
    ap.add_argument("--data", default="../shared/data/oulad")
    ap.add_argument("--days", default="30,60,90")
    ap.add_argument("--protocols", default=",".join(PROTOCOLS))
    return ap


def main() -> None:
    args = parser(__doc__).parse_args()
    tables = load_oulad_tables(Path(args.data))
    res: dict[str, dict] = {}
    for d in (int(x) for x in args.days.split(",")):
        cache: dict[tuple[frozenset[str], bool], object] = {}

        def frame(pres: set[str], train: bool, day: int = d, cache: dict = cache):  # noqa: ANN202
            key = (frozenset(pres), train)
            if key not in cache:
                sub = subset_tables(tables, set(pres))
                cache[key] = train_frame(sub, day) if train else build_features(sub, day)
            return cache[key]

        for name in args.protocols.split(","):
            tr, te = PROTOCOLS[name]
            ours = evaluate_frames(frame(tr, True), frame(te, False), d)
            base = evaluate_frames(frame(tr, True), frame(te, False), d, baseline=True)
            row = {"ours": {k: ours[k] for k in HEADLINE} | gaps(ours),
                   "baseline": {k: base[k] for k in HEADLINE} | gaps(base),
                   "auc_x_baseline": round(ours["auc"] / base["auc"], 3),
                   "auc_by_group": ours["auc_by_group"], "calibration_gap_by_group": ours["calibration_gap_by_group"],
                   "calibration_gap_by_module": ours["calibration_gap_by_module"], "n_by_group": ours["n_by_group"],
                   "baseline_auc_by_group": base["auc_by_group"], "base_rate": ours["base_rate"],
                   "n_test": ours["n_test"]}
            res[f"{name}/day{d}"] = row
            print(json.dumps({f"{name}/day{d}": {"ours": row["ours"], "baseline": row["baseline"]}}), file=sys.stderr)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
