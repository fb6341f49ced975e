"""Benchmark: the per-institution risk model on the demo school — train time, held-out AUC vs the rules.

Run from the repository root: python bench/warnings_risk.py [--students 300] [--weeks 12] [--seed 7]
(or ``--oulad DIR [--kind lightgbm]``: the same training on OULAD imported into a store)
Generates and imports the demo school (records + its synthetic end-of-term outcomes), trains with the
default ``warnings.risk`` config (snapshots every 7 days, 25 % of students held out), then measures on the
same held-out rows: both model kinds and the transparent rules as a score (sum of the four
rule levels), over ``--splits`` different held-out splits (mean ± sd: 73 held-out students is a small
test set). Then one scoring run with the model (time, risk warnings by level, drift check). Prints one
JSON object on its last line. The demo school is synthetic: its outcomes come from the same hidden state
that drives its records, so these numbers check the machinery, not real-world validity.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cloud_aggregator.config.store import StoreConfig  # noqa: E402
from cloud_aggregator.config.warnings import WarningsConfig  # noqa: E402
from cloud_aggregator.records import import_records  # noqa: E402
from cloud_aggregator.records.demo_school import DemoSpec, write_demo_school  # noqa: E402
from cloud_aggregator.records.keys import RecordsKeys  # noqa: E402
from cloud_aggregator.store import (
    db,  # noqa: E402
    open_store,  # noqa: E402
)
from cloud_aggregator.warnings import engine, risk  # noqa: E402
from cloud_aggregator.warnings import risk_model as rm  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=300)
    ap.add_argument("--weeks", type=int, default=12)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--splits", type=int, default=10, help="held-out splits (by student) for the mean ± sd")
    ap.add_argument("--oulad", type=Path, help="train on this OULAD folder imported into a store instead (one split)")
    ap.add_argument("--kind", default="auto", choices=("auto", "lightgbm", "logistic"))
    args = ap.parse_args()
    if args.oulad:
        return oulad(args)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        school = write_demo_school(base / "school", DemoSpec(seed=args.seed, students=args.students, weeks=args.weeks))
        keys = RecordsKeys(b"bench-risk-key-0" * 2)  # fixed: same pseudonyms → same held-out students every run
        store = open_store(StoreConfig(path=base / "w.db"))
        import_records(store, school, "all", keys=keys, progress=False)
        last = db.query(store, "SELECT MAX(date) AS d FROM attendance")[0]["d"]
        now = datetime.fromisoformat(last + "T12:00:00+00:00") + timedelta(days=1)
        cfg = WarningsConfig.model_validate({"schedule": "off", "risk": {"kind": args.kind}})
        t0 = time.perf_counter()
        res = risk.train(store, cfg, now)
        train_s = time.perf_counter() - t0
        df = rm.training_set(store, cfg.students, cfg.risk.step_days, cfg.risk.min_days)
        per: dict[str, list[float]] = {"lightgbm": [], "logistic": [], "rules": [], "lightgbm_last": [],
                                       "logistic_last": [], "rules_last": []}
        for split in range(args.splits):
            tr, te = rm.split_students(df, cfg.risk.holdout, split)
            for k in ("lightgbm", "logistic"):
                m = rm.evaluate(tr, te, k, cfg.risk.seed)[0]
                per[k].append(m["auc"])
                per[k + "_last"].append(m["auc_last_date"])
            per["rules"].append(m["rules_auc"])
            per["rules_last"].append(m["rules_auc_last_date"])
        splits = {k: {"mean": round(float(np.mean(v)), 3), "sd": round(float(np.std(v)), 3),
                      "min": round(min(v), 3), "max": round(max(v), 3)} for k, v in per.items()}
        t0 = time.perf_counter()
        run = engine.run(store, cfg, keys, now=now, deliver=False)
        run_s = time.perf_counter() - t0
        c = run["counts"]
        risk_levels = {str(lv): db.query(store, "SELECT COUNT(*) AS n FROM warning_log WHERE type = 'risk' AND "
                                                "level = ?", (lv,))[0]["n"] for lv in (1, 2, 3)}
        out = {"students": res["n_students"], "rows": res["n_rows"], "window": [res["window_start"], res["window_end"]],
               "train_s": round(train_s, 2), "chosen": res["kind"], "metrics": res["metrics"],
               "splits": splits, "n_splits": args.splits,
               "fairness": res["fairness"], "run_with_model_s": round(run_s, 3), "risk_warnings_by_level": risk_levels,
               "drift": c.get("drift"), "version": run["version"]}
        store.close()
    print(json.dumps(out))
    return 0


def oulad(args: argparse.Namespace) -> int:
    """OULAD through the records store: import, then ``warnings train`` as a school would (one held-out split)."""
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(StoreConfig(path=Path(tmp) / "o.db"))
        t0 = time.perf_counter()
        rep = import_records(store, args.oulad, "oulad", keys=RecordsKeys(b"bench-risk-key-0" * 2), progress=False)
        import_s = time.perf_counter() - t0
        cfg = WarningsConfig.model_validate({"schedule": "off", "risk": {"kind": args.kind, "model_dir": tmp}})
        t0 = time.perf_counter()
        res = risk.train(store, cfg)
        train_s = time.perf_counter() - t0
        store.close()
    print(json.dumps({"import_s": round(import_s, 1), "import_errors": rep.errors, "train_s": round(train_s, 1),
                      **{k: res[k] for k in ("kind", "n_rows", "n_students", "window_start", "window_end", "metrics",
                                             "fairness")}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
