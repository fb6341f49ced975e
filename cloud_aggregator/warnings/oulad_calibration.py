"""Calibration of the OULAD risk model: intervals per group and out-of-presentation recalibration.

Why intervals: a calibration gap (mean predicted minus observed at-risk rate) of +0.13 on 30 students is
within sampling noise (the observed rate alone has a standard error near 0.09), so a gap is reported with a
bootstrap 95 % interval and its group size; only gaps whose interval excludes 0 are evidence of a
mis-calibrated group. Why out-of-presentation: a recalibration map fitted on in-sample scores learns the
model's own overfit; fitted on scores for module presentations the model did not see, it learns how the
model transfers, which is what a new presentation needs. Protected attributes are never used to fit it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from cloud_aggregator.warnings.oulad_features import PROTECTED

N_BOOT = 1000
LEVEL = 0.95
MAX_FOLDS = 5


def gap_interval(y: np.ndarray, p: np.ndarray, n_boot: int = N_BOOT, seed: int = 0,
                 level: float = LEVEL) -> dict[str, float | int]:
    """Calibration gap mean(p) - mean(y) with a percentile bootstrap interval over the group's students."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    n = len(y)
    gap = float(p.mean() - y.mean())
    rng = np.random.default_rng(seed)
    d = p - y  # the gap is the mean of the per-student differences
    boot = np.concatenate([d[rng.integers(0, n, size=(min(100, n_boot - k), n))].mean(axis=1)
                           for k in range(0, n_boot, 100)])
    lo, hi = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return {"gap": round(gap, 4), "lo": round(float(lo), 4), "hi": round(float(hi), 4), "n": n}


def gap_intervals(df: pd.DataFrame, p: np.ndarray, cols: tuple[str, ...] = PROTECTED, n_boot: int = N_BOOT,
                  seed: int = 0) -> dict[str, dict[str, dict[str, float | int]]]:
    """:func:`gap_interval` for every value of each protected attribute (``df`` holds ``y`` and ``cols``)."""
    y = df["y"].to_numpy()
    out: dict[str, dict[str, dict[str, float | int]]] = {}
    for col in cols:
        vals = df[col].astype(str).to_numpy()
        out[col] = {v: gap_interval(y[vals == v], p[vals == v], n_boot, seed) for v in sorted(set(vals))}
    return out


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
