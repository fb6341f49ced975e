"""Post-hoc calibration of the shipped OULAD LightGBM (issue #9), raw scores measured in the same run.

Not shipped (lopo did not improve, see bench/README.md), so the fitting code lives here, not in the aggregator.
A recalibration map fitted on in-sample scores learns the model's own overfit; fitted on scores for module
presentations the model did not see, it learns how the model transfers, which is what a new presentation needs.

Variants, all fitted without protected attributes:

* ``raw``: the shipped model's scores.
* ``platt`` / ``isotonic``: a monotone map fitted on out-of-presentation scores of the training rows (each
  module presentation scored by a model trained on the others, :func:`oof_scores`), day-D snapshot rows only
  (the rows that look like the scored ones); ``platt_all`` fits Platt on every snapshot row.
* ``shift`` / ``shift_mp``: prior shift by EM on the scored cohort's own scores (no outcomes), over the whole
  test folder or per module presentation; ``platt_shift_mp``: Platt then per-module-presentation shift.

Per group (gender, age band, disability, IMD band): the calibration gap with a bootstrap 95 % interval and n,
so a reader sees which gaps are real (interval excludes 0) and which are noise. Choose on lopo only.

Run: OMP_NUM_THREADS=1 python bench/oulad_calibration.py --data ../shared/data/oulad
Prints one summary line per protocol and day on stderr and one JSON object on its last line.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from oulad import PROTOCOLS, parser  # noqa: E402  (bench/oulad.py: the same four protocols)

from cloud_aggregator.records.oulad import load_oulad_tables, subset_tables  # noqa: E402
from cloud_aggregator.warnings.oulad_calibration import gap_intervals  # noqa: E402
from cloud_aggregator.warnings.oulad_eval import MODEL_FEATURES, _model, train_frame  # noqa: E402
from cloud_aggregator.warnings.oulad_features import build_features  # noqa: E402

MAX_FOLDS = 5
BIG = 200  # groups at least this large: their sampling noise is below about +-0.07


def oof_scores(tr: pd.DataFrame, feats: list[str], make_model: Callable[[], object],
               max_folds: int = MAX_FOLDS) -> np.ndarray:
    """Scores for every training row from a model that never saw the row's module presentation.

    Folds group whole module presentations (all snapshots of a student stay in one fold).
    """
    from sklearn.model_selection import GroupKFold

    groups = (tr["code_module"].astype(str) + "/" + tr["code_presentation"].astype(str)).to_numpy()
    n_groups = len(set(groups))
    if n_groups < 2:
        raise ValueError("out-of-presentation scores need at least two module presentations in training")
    out = np.empty(len(tr))
    for fit_idx, oof_idx in GroupKFold(n_splits=min(max_folds, n_groups)).split(tr, groups=groups):
        m = make_model().fit(tr.iloc[fit_idx][feats], tr.iloc[fit_idx]["y"])  # type: ignore[attr-defined]
        out[oof_idx] = m.predict_proba(tr.iloc[oof_idx][feats])[:, 1]  # type: ignore[attr-defined]
    return out


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def fit_calibrator(kind: str, p: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A monotone map from raw to calibrated scores: ``platt`` (logistic on the logit) or ``isotonic``."""
    if kind == "platt":
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1e6).fit(_logit(p)[:, None], y)
        return lambda q: lr.predict_proba(_logit(q)[:, None])[:, 1]
    if kind == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=1e-4, y_max=1 - 1e-4, out_of_bounds="clip").fit(p, y)
        return lambda q: iso.predict(np.asarray(q, float))
    raise ValueError(f"unknown calibrator {kind!r}")


def prior_shift(p: np.ndarray, train_rate: float, iters: int = 100, tol: float = 1e-6) -> np.ndarray:
    """Scores re-weighted to the at-risk rate EM estimates from the unlabelled scores themselves.

    Saerens et al. (2002): assumes only the base rate moved, not how risk shows in behaviour; uses the
    scored cohort's predictions, never its outcomes.
    """
    p = np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6)
    rate = train_rate
    q = p
    for _ in range(iters):
        w1, w0 = rate / train_rate, (1 - rate) / (1 - train_rate)
        q = p * w1 / (p * w1 + (1 - p) * w0)
        new = float(q.mean())
        if abs(new - rate) < tol:
            break
        rate = new
    return q


def shift_by_presentation(df: pd.DataFrame, p: np.ndarray, rate: float) -> np.ndarray:
    out = np.empty(len(p))
    keys = (df["code_module"].astype(str) + "/" + df["code_presentation"].astype(str)).to_numpy()
    for k in set(keys):
        out[keys == k] = prior_shift(p[keys == k], rate)
    return out


def summary(df: pd.DataFrame, p: np.ndarray) -> tuple[dict, dict]:
    from sklearn.metrics import brier_score_loss, roc_auc_score

    y = df["y"].to_numpy()
    iv = gap_intervals(df, p)
    cells = [c for g in iv.values() for c in g.values()]
    real = [c for c in cells if c["lo"] > 0 or c["hi"] < 0]
    big = [abs(c["gap"]) for c in cells if c["n"] >= BIG]
    return {"auc": round(float(roc_auc_score(y, p)), 4), "brier": round(float(brier_score_loss(y, p)), 4),
            "gap": round(float(p.mean() - y.mean()), 4), "max_abs_group_gap": max(abs(c["gap"]) for c in cells),
            "max_abs_gap_n200": max(big), "groups_within_003": sum(abs(c["gap"]) <= 0.03 for c in cells),
            "groups": len(cells), "groups_gap_real": len(real)}, iv


def main() -> None:
    ap = parser(__doc__)
    args = ap.parse_args()
    tables = load_oulad_tables(Path(args.data))
    res: dict[str, dict] = {}
    for d in (int(x) for x in args.days.split(",")):
        for name in args.protocols.split(","):
            trp, tep = PROTOCOLS[name]
            tr, te = train_frame(subset_tables(tables, trp), d), build_features(subset_tables(tables, tep), d)
            raw = _model().fit(tr[MODEL_FEATURES], tr["y"]).predict_proba(te[MODEL_FEATURES])[:, 1]
            oof = oof_scores(tr, MODEL_FEATURES, _model)
            at_d = (tr["snapshot_day"] == d).to_numpy()
            y_tr = tr["y"].to_numpy()
            rate = float(y_tr[at_d].mean())
            platt = fit_calibrator("platt", oof[at_d], y_tr[at_d])(raw)
            variants = {
                "raw": raw, "platt": platt, "isotonic": fit_calibrator("isotonic", oof[at_d], y_tr[at_d])(raw),
                "platt_all": fit_calibrator("platt", oof, y_tr)(raw), "shift": prior_shift(raw, rate),
                "shift_mp": shift_by_presentation(te, raw, rate),
                "platt_shift_mp": shift_by_presentation(te, platt, rate),
            }
            row: dict[str, dict] = {"summary": {}, "intervals": {}}
            for v, p in variants.items():
                row["summary"][v], row["intervals"][v] = summary(te, np.asarray(p, float))
            row["oof_gap_day_d"] = round(float(oof[at_d].mean() - rate), 4)
            row["n_test"], row["base_rate"], row["train_rate"] = len(te), round(float(te["y"].mean()), 4), round(rate, 4)
            res[f"{name}/day{d}"] = row
            print(json.dumps({f"{name}/day{d}": {v: [s["auc"], s["gap"], s["max_abs_gap_n200"], s["groups_gap_real"]]
                                                 for v, s in row["summary"].items()}}), file=sys.stderr, flush=True)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
