"""``cloud-aggregator eval oulad --train DIR --test DIR --day D``: the risk model on real learning-analytics data.

Trains on every presentation in the train folder with only what was known by day D,
scores the test folder's students still registered on day D, and reports AUC,
PR-AUC, precision in the top 10 %, and AUC and calibration gap per protected group, the gap also with a
bootstrap 95 % interval and the group size (small groups' gaps are mostly noise).
At risk: final_result Withdrawn or Fail. Baseline for comparison: the earlier
learner on registration and raw assessment counts/scores only.

The model is a small, strongly regularised LightGBM with monotone constraints on
the features whose direction is not in doubt (more missed work never lowers risk,
a better score never raises it): chosen by leave-one-presentation-out on the
train presentations, where shallow trees transferred better to an unseen
presentation than the earlier deeper model. It learns from snapshots of the
train presentations every 10 days from day D back to day 0 (all known by day D):
leave-one-presentation-out AUC rose most where the test had modules unseen in training,
likely because a module whose marked work starts late looks on day D like a seen module early on.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from cloud_aggregator.records.oulad import load_oulad_tables
from cloud_aggregator.warnings.oulad_calibration import gap_intervals
from cloud_aggregator.warnings.oulad_features import FEATURES, KEY, NEW_FEATURES, PROTECTED, build_features

MODEL_FEATURES = FEATURES + NEW_FEATURES
BASELINE_FEATURES = ["num_of_prev_attempts", "studied_credits", "reg_days_before_start", "n_submitted",
                     "mean_score", "n_late", "weight_done"]
MIN_GROUP = 30
SNAPSHOT_STEP = 10  # train on day D, D-10, D-20, ... down to day 0 (never later than D)
# +1: risk never falls as the feature grows; -1: never rises. Others unconstrained.
MONOTONE = {"share_missed": 1, "n_missed": 1, "missed_streak": 1, "days_since_last_submit": 1, "n_fail40": 1,
            "num_of_prev_attempts": 1, "weighted_score": -1, "mean_score": -1, "score_z": -1, "score_pct": -1,
            "score_to_date": -1, "all_score": -1, "last_due_done": -1}


def _model(features: list[str] | None = None, seed: int = 0):  # noqa: ANN202
    """The shipped learner: shallow trees, heavy regularisation, monotone where the direction is known."""
    import lightgbm as lgb

    feats = features or MODEL_FEATURES
    return lgb.LGBMClassifier(n_estimators=400, learning_rate=0.03, num_leaves=4, min_child_samples=150,
                              subsample=0.8, subsample_freq=1, colsample_bytree=0.5, reg_lambda=5.0,
                              monotone_constraints=[MONOTONE.get(f, 0) for f in feats],
                              random_state=seed, verbose=-1, n_jobs=1)


def _baseline_model(seed: int = 0):  # noqa: ANN202
    """The plain baseline learner (unchanged, so numbers stay comparable across runs)."""
    import lightgbm as lgb

    return lgb.LGBMClassifier(n_estimators=400, learning_rate=0.03, num_leaves=15, min_child_samples=40,
                              subsample=0.8, subsample_freq=1, colsample_bytree=0.8, reg_lambda=1.0,
                              random_state=seed, verbose=-1, n_jobs=1)


def precision_at(y: np.ndarray, p: np.ndarray, share: float = 0.1) -> float:
    k = max(1, int(round(share * len(y))))
    return float(y[np.argsort(-p)[:k]].mean())


def fairness(df: pd.DataFrame, p: np.ndarray) -> tuple[dict, dict, dict]:
    """Per value of each protected attribute: AUC (None below MIN_GROUP or one class), calibration gap, size."""
    from sklearn.metrics import roc_auc_score

    aucs: dict[str, dict[str, float | None]] = {}
    cal: dict[str, dict[str, float]] = {}
    sizes: dict[str, dict[str, int]] = {}
    for col in PROTECTED:
        aucs[col], cal[col], sizes[col] = {}, {}, {}
        for val, idx in df.groupby(df[col].astype(str)).groups.items():
            yi, pi = df.loc[idx, "y"].to_numpy(), p[np.asarray(df.index.get_indexer(idx))]
            sizes[col][val] = len(yi)
            if len(yi) < MIN_GROUP or len(set(yi)) < 2:
                aucs[col][val] = None
            else:
                aucs[col][val] = round(float(roc_auc_score(yi, pi)), 4)
            cal[col][val] = round(float(pi.mean() - yi.mean()), 4)
    return aucs, cal, sizes


def _by_module(df: pd.DataFrame, p: np.ndarray) -> dict[str, float]:
    """Mean predicted minus observed risk per module: shows presentation-level base-rate shifts."""
    d = pd.DataFrame({"m": df["code_module"].astype(str).to_numpy(), "p": p, "y": df["y"].to_numpy()})
    return {m: round(float(g["p"].mean() - g["y"].mean()), 4) for m, g in d.groupby("m")}


def train_frame(tables: dict, day: int, step: int = SNAPSHOT_STEP) -> pd.DataFrame:
    """Training rows: :func:`build_features` on day D and every ``step`` days before it down to day 0."""
    days = sorted(range(day, -1, -step)) if day >= 0 else [day]
    return pd.concat([build_features(tables, d).assign(snapshot_day=d) for d in days], ignore_index=True)


def evaluate(train_dir: Path, test_dir: Path, day: int, baseline: bool = False) -> dict:
    """Train on every presentation of ``train_dir`` as of ``day``; score ``test_dir``'s unseen presentations."""
    return evaluate_frames(train_frame(load_oulad_tables(train_dir), day),
                           build_features(load_oulad_tables(test_dir), day), day, baseline)


def evaluate_frames(tr: pd.DataFrame, te: pd.DataFrame, day: int, baseline: bool = False) -> dict:
    """Same as :func:`evaluate` on feature frames: ``tr`` from :func:`train_frame`, ``te`` from :func:`build_features`.

    The baseline learns from the day-D snapshot only, as it always did.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    if "snapshot_day" in tr:
        if (tr["snapshot_day"] > day).any():
            raise ValueError("training snapshots after day D would use what was not yet known")
        if baseline:
            tr = tr[tr["snapshot_day"] == day]
    tr_keys = set(zip(tr["code_module"], tr["code_presentation"], strict=True))
    te = te[[k not in tr_keys for k in zip(te["code_module"], te["code_presentation"], strict=True)]].reset_index(drop=True)
    if te.empty:
        raise ValueError("the test folder has no presentation that is not also in the train folder")
    feats = BASELINE_FEATURES if baseline else MODEL_FEATURES
    m = (_baseline_model() if baseline else _model(feats)).fit(tr[feats], tr["y"])
    p = m.predict_proba(te[feats])[:, 1]
    y = te["y"].to_numpy()
    aucs, cal, sizes = fairness(te, p)
    return {"auc": round(float(roc_auc_score(y, p)), 4), "pr_auc": round(float(average_precision_score(y, p)), 4),
            "precision_at_10pct": round(precision_at(y, p), 4), "auc_by_group": aucs,
            "calibration_gap_by_group": cal, "calibration_gap_ci_by_group": gap_intervals(te, p),
            "calibration_gap_by_module": _by_module(te, p), "n_by_group": sizes,
            "n_train": int(len(tr)), "n_train_students": int(len(tr.drop_duplicates(KEY))), "n_test": int(len(te)),
            "base_rate": round(float(y.mean()), 4), "day": day}


def main(args: argparse.Namespace) -> int:
    print(json.dumps(evaluate(Path(args.train), Path(args.test), int(args.day))))
    return 0
