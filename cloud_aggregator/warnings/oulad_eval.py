"""``cloud-aggregator eval oulad --train DIR --test DIR --day D``: the risk model on real learning-analytics data.

Trains on every presentation in the train folder with only what was known by day D,
scores the test folder's students still registered on day D, and reports AUC,
PR-AUC, precision in the top 10 %, and AUC and calibration gap per protected group.
At risk: final_result Withdrawn or Fail. Baseline for comparison: the same
learner on registration and raw assessment counts/scores only.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from cloud_aggregator.records.oulad import load_oulad_tables
from cloud_aggregator.warnings.oulad_features import FEATURES, PROTECTED, build_features

BASELINE_FEATURES = ["num_of_prev_attempts", "studied_credits", "reg_days_before_start", "n_submitted",
                     "mean_score", "n_late", "weight_done"]
MIN_GROUP = 30


def _model(seed: int = 0):  # noqa: ANN202
    import lightgbm as lgb

    return lgb.LGBMClassifier(n_estimators=400, learning_rate=0.03, num_leaves=15, min_child_samples=40,
                              subsample=0.8, subsample_freq=1, colsample_bytree=0.8, reg_lambda=1.0,
                              random_state=seed, verbose=-1, n_jobs=1)


def precision_at(y: np.ndarray, p: np.ndarray, share: float = 0.1) -> float:
    k = max(1, int(round(share * len(y))))
    return float(y[np.argsort(-p)[:k]].mean())


def fairness(df: pd.DataFrame, p: np.ndarray) -> tuple[dict, dict]:
    from sklearn.metrics import roc_auc_score

    aucs: dict[str, dict[str, float | None]] = {}
    cal: dict[str, dict[str, float]] = {}
    for col in PROTECTED:
        aucs[col], cal[col] = {}, {}
        for val, idx in df.groupby(df[col].astype(str)).groups.items():
            yi, pi = df.loc[idx, "y"].to_numpy(), p[np.asarray(df.index.get_indexer(idx))]
            if len(yi) < MIN_GROUP or len(set(yi)) < 2:
                aucs[col][val] = None
            else:
                aucs[col][val] = round(float(roc_auc_score(yi, pi)), 4)
            cal[col][val] = round(float(pi.mean() - yi.mean()), 4)
    return aucs, cal


def evaluate(train_dir: Path, test_dir: Path, day: int, features: list[str] | None = None) -> dict:
    from sklearn.metrics import average_precision_score, roc_auc_score

    feats = features or FEATURES
    tr = build_features(load_oulad_tables(train_dir), day)
    te = build_features(load_oulad_tables(test_dir), day)
    tr_keys = set(zip(tr["code_module"], tr["code_presentation"], strict=True))
    te = te[[k not in tr_keys for k in zip(te["code_module"], te["code_presentation"], strict=True)]].reset_index(drop=True)
    if te.empty:
        raise ValueError("the test folder has no presentation that is not also in the train folder")
    m = _model().fit(tr[feats], tr["y"])
    p = m.predict_proba(te[feats])[:, 1]
    y = te["y"].to_numpy()
    aucs, cal = fairness(te, p)
    return {"auc": round(float(roc_auc_score(y, p)), 4), "pr_auc": round(float(average_precision_score(y, p)), 4),
            "precision_at_10pct": round(precision_at(y, p), 4), "auc_by_group": aucs,
            "calibration_gap_by_group": cal, "n_train": int(len(tr)), "n_test": int(len(te)),
            "base_rate": round(float(y.mean()), 4), "day": day}


def main(args: argparse.Namespace) -> int:
    print(json.dumps(evaluate(Path(args.train), Path(args.test), int(args.day))))
    return 0
