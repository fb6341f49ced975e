"""The institution's own risk model: training set from its records, fit, held-out check, contributions.

Rows are (student, as-of date) snapshots every ``step_days`` through the records, each with the
features the records knew that day and the label the school later learnt (``student_outcomes``:
fail or withdrawn = at risk). A snapshot is only taken while the outcome was still unknown, and with
``until`` only outcomes known by then (their ``outcome_date``) are labels and no snapshot is later. The
held-out split is *by student* (no student on both sides), and the transparent rules are scored on
the same held-out rows, so the model has to beat them to be worth anything. Gradient boosting
(LightGBM) or a logistic regression — ``kind: auto`` picks by cross-validated AUC on the training
students. Reasons are per-feature contributions: LightGBM's ``pred_contrib`` (SHAP values) or, for
the logistic model, coefficient × standardised value.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from cloud_aggregator.config.warnings import StudentRules
from cloud_aggregator.store.risk_outcomes import analysable_outcomes
from cloud_aggregator.store.routing import student_enrolments
from cloud_aggregator.store.source_freshness import records_span

from . import routing
from .risk_features import FEATURE_NAMES, features
from .student_rules import Indicators, rule_warnings

if TYPE_CHECKING:
    from cloud_aggregator.store import Store

AT_RISK = ("fail", "withdrawn")
GROUP_COLUMNS = ("gender", "age_band", "disability", "deprivation")
MIN_GROUP = 20
ModelKind = Literal["lightgbm", "logistic"]
MODEL_KINDS: tuple[ModelKind, ...] = ("lightgbm", "logistic")
EPS = 1e-4


def _dates(lo: str, hi: str, step: int) -> list[str]:
    d, end, out = date.fromisoformat(hi), date.fromisoformat(lo), []
    while d >= end:
        out.append(d.isoformat())
        d -= timedelta(days=step)
    return sorted(out)


def rules_score(row: dict[str, float], rules: StudentRules) -> int:
    """The transparent rules as a score (sum of the four rule levels, 0–12): the baseline to beat."""
    def v(k: str) -> float | None:
        x = row.get(k)
        return None if x is None or (isinstance(x, float) and math.isnan(x)) else x
    ind = Indicators("x", att_recent=v("att_recent"), att_term=v("att_term"), late_recent=int(v("late_recent") or 0),
                     missing_recent=v("missing_recent"), ontime_recent=v("ontime_recent"), ontime_term=v("ontime_term"),
                     score_recent=v("score_recent"), score_term=v("score_term"), lms_recent_wk=v("lms_recent_wk"),
                     lms_before_wk=v("lms_before_wk"))
    return sum(w.level for w in rule_warnings(ind, "w", rules))


def training_set(store: Store, rules: StudentRules, step_days: int = 7, min_days: int = 21,
                 until: str | None = None) -> pd.DataFrame:
    """One row per (student, snapshot date) with features, ``y``, ``rules_score`` and the group columns."""
    outs = analysable_outcomes(store)
    if until:  # a label must have been known by ``until``: an outcome learnt later is the future, not training data
        outs = [o for o in outs if o["outcome_date"][:10] <= until]
    span = records_span(store)
    if not outs or span is None:
        return pd.DataFrame()
    hi = min(span[1], until) if until else span[1]
    lo = (date.fromisoformat(span[0]) + timedelta(days=min_days)).isoformat()
    by_student: dict[str, list[dict[str, Any]]] = {}
    for o in sorted(outs, key=lambda o: o["outcome_date"]):
        by_student.setdefault(o["p"], []).append(o)
    begin: dict[tuple[str, str], str] = {}
    for e in student_enrolments(store):
        if e.begin is not None:
            begin[(e.student, e.section)] = min(e.begin, begin.get((e.student, e.section), e.begin))
            begin[(e.student, "")] = min(e.begin, begin.get((e.student, ""), e.begin))

    def started(p: str, o: dict[str, Any], d: str) -> bool:
        """The term the outcome is for began ≥ ``min_days`` before ``d`` (its enrolment; else any enrolment)."""
        b = begin.get((p, o["term"] or "")) or begin.get((p, ""))
        return b is None or (date.fromisoformat(b[:10]) + timedelta(days=min_days)).isoformat() <= d

    rows = []
    for d in _dates(lo, hi, step_days):
        # the label of a snapshot is the student's next outcome still unknown on that day (the term in progress)
        label = {p: next(o for o in os if o["outcome_date"] > d) for p, os in by_student.items()
                 if os[-1]["outcome_date"] > d}
        label = {p: o for p, o in label.items() if started(p, o, d)}
        term_day = routing.term_days(store, d) if label else {}
        for p, f in features(store, sorted(label), d, rules.recent_days).items():
            o = label[p]
            rows.append({"student": p, "as_of": d, **f, "y": int(o["outcome"] in AT_RISK),
                         "rules_score": rules_score(f, rules), "term_day": term_day.get(p, math.nan),
                         **{g: o[g] for g in GROUP_COLUMNS}})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- models
@dataclass
class RiskModel:
    """A fitted model and what it needs to score and explain: JSON-serialisable, no pickle."""

    kind: ModelKind
    features: list[str]
    params: dict[str, Any]
    _booster: Any = None

    def _x(self, df: pd.DataFrame) -> np.ndarray:
        return df[self.features].to_numpy(dtype=float)

    def _std(self, x: np.ndarray) -> np.ndarray:
        p = self.params
        x = np.where(np.isnan(x), np.asarray(p["median"]), x)
        return (x - np.asarray(p["mean"])) / np.asarray(p["scale"])

    @property
    def booster(self) -> Any:  # noqa: ANN401
        if self._booster is None and self.kind == "lightgbm":
            import lightgbm as lgb

            self._booster = lgb.Booster(model_str=self.params["booster"])
        return self._booster

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        if df.empty:
            return np.zeros(0)
        if self.kind == "lightgbm":
            return np.asarray(self.booster.predict(self._x(df)), dtype=float)
        z = self._std(self._x(df)) @ np.asarray(self.params["coef"]) + self.params["intercept"]
        return 1.0 / (1.0 + np.exp(-z))

    def contributions(self, df: pd.DataFrame) -> np.ndarray:
        """Per-row, per-feature contribution to the log-odds (positive = raises the risk)."""
        if self.kind == "lightgbm":
            return np.asarray(self.booster.predict(self._x(df), pred_contrib=True))[:, :-1]
        return self._std(self._x(df)) * np.asarray(self.params["coef"])

    def to_json(self) -> str:
        return json.dumps({"format": 1, "kind": self.kind, "features": self.features, "params": self.params})

    @classmethod
    def from_json(cls, text: str) -> RiskModel:
        d = json.loads(text)
        if d.get("format") != 1 or d.get("kind") not in MODEL_KINDS:
            raise ValueError("not a ClassPulse risk model file")
        return cls(d["kind"], list(d["features"]), d["params"])


def fit(df: pd.DataFrame, kind: ModelKind, seed: int = 0) -> RiskModel:
    x, y = df[list(FEATURE_NAMES)].to_numpy(dtype=float), df["y"].to_numpy(dtype=int)
    if kind == "lightgbm":
        import lightgbm as lgb

        m = lgb.LGBMClassifier(n_estimators=250, learning_rate=0.04, num_leaves=7, min_child_samples=25,
                               subsample=0.8, subsample_freq=1, colsample_bytree=0.8, reg_lambda=2.0,
                               random_state=seed, verbose=-1, n_jobs=1).fit(x, y)
        return RiskModel(kind, list(FEATURE_NAMES), {"booster": m.booster_.model_to_string()})
    from sklearn.linear_model import LogisticRegression

    med = np.array([np.median(c[~np.isnan(c)]) if (~np.isnan(c)).any() else 0.0 for c in x.T])
    xi = np.where(np.isnan(x), med, x)
    mean, scale = xi.mean(axis=0), xi.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    lr = LogisticRegression(C=0.5, max_iter=2000).fit((xi - mean) / scale, y)
    return RiskModel(kind, list(FEATURE_NAMES), {"median": med.tolist(), "mean": mean.tolist(), "scale": scale.tolist(),
                                                 "coef": lr.coef_[0].tolist(), "intercept": float(lr.intercept_[0])})


def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return round(float(roc_auc_score(y, p)), 4) if len(set(y.tolist())) == 2 else None


def split_students(df: pd.DataFrame, holdout: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Held-out *students* (stratified by label), so no student is on both sides."""
    per = df.groupby("student")["y"].max()
    rng = np.random.default_rng(seed)
    test: set[str] = set()
    for _lab, ids in per.groupby(per).groups.items():
        ids = sorted(ids)
        test |= set(rng.choice(ids, size=max(1, round(holdout * len(ids))), replace=False).tolist())
    mask = df["student"].isin(test)
    return df[~mask].reset_index(drop=True), df[mask].reset_index(drop=True)


def choose_kind(train: pd.DataFrame, seed: int = 0, folds: int = 3) -> tuple[ModelKind, dict[str, float]]:
    """Cross-validated AUC (folds by student) of each kind on the training students; the higher wins."""
    students = np.array(sorted(train["student"].unique()))
    rng = np.random.default_rng(seed)
    rng.shuffle(students)
    fold_of = {s: i % folds for i, s in enumerate(students)}
    f = train["student"].map(fold_of).to_numpy()
    scores: dict[str, float] = {}
    for kind in MODEL_KINDS:
        p = np.zeros(len(train))
        for k in range(folds):
            m = fit(train[f != k], kind, seed)
            p[f == k] = m.predict(train[f == k])
        scores[kind] = _auc(train["y"].to_numpy(), p) or 0.0
    return max(MODEL_KINDS, key=lambda k: scores[k]), scores  # a tie: the first kind


def fairness(df: pd.DataFrame, p: np.ndarray) -> dict[str, dict[str, dict[str, Any]]]:
    """AUC and calibration gap (mean predicted − observed) per value of each group column the records hold."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for col in GROUP_COLUMNS:
        if col not in df or df[col].isna().all():
            continue
        out[col] = {}
        for val, idx in df.groupby(df[col].fillna("unknown").astype(str)).groups.items():
            i = df.index.get_indexer(idx)
            yi, pi = df["y"].to_numpy()[i], p[i]
            out[col][val] = {"n": len(i), "auc": _auc(yi, pi) if len(i) >= MIN_GROUP else None,
                             "calibration_gap": round(float(pi.mean() - yi.mean()), 4)}
    return out


def evaluate(train: pd.DataFrame, test: pd.DataFrame, kind: ModelKind, seed: int = 0) -> tuple[dict[str, Any], np.ndarray]:
    """Held-out metrics of ``kind`` trained on ``train``, next to the rules score on the same rows."""
    m = fit(train, kind, seed)
    p, y = m.predict(test), test["y"].to_numpy()
    day = last_full_date(test)  # the very last date can hold one late student (OULAD): no AUC from that
    last = (test["as_of"] == day).to_numpy()
    brier = float(np.mean((p - y) ** 2))
    return {"kind": kind, "auc": _auc(y, p), "rules_auc": _auc(y, test["rules_score"].to_numpy(float)),
            "auc_last_date": _auc(y[last], p[last]), "last_date": day, "n_last_date": int(last.sum()),
            "rules_auc_last_date": _auc(y[last], test["rules_score"].to_numpy(float)[last]),
            "brier": round(brier, 4), "calibration_gap": round(float(p.mean() - y.mean()), 4),
            "n_test_rows": len(test), "n_test_students": int(test["student"].nunique()),
            "base_rate": round(float(y.mean()), 4)}, p


# ---------------------------------------------------------------- drift baseline (population stability)
def bin_edges(values: np.ndarray, bins: int = 10) -> list[float]:
    v = values[~np.isnan(values)]
    if not len(v):
        return []
    return sorted(set(np.quantile(v, np.linspace(0, 1, bins + 1)[1:-1]).round(6).tolist()))


def proportions(values: np.ndarray, edges: list[float]) -> list[float]:
    """Share per bin (bins from ``edges``, plus a last bin for missing values)."""
    values = np.asarray(values, dtype=float)
    nan = np.isnan(values)
    idx = np.searchsorted(np.asarray(edges), values[~nan], side="right")
    counts = np.bincount(idx, minlength=len(edges) + 1).tolist() + [int(nan.sum())]
    n = max(1, len(values))
    return [c / n for c in counts]


def psi(expected: list[float], actual: list[float]) -> float:
    """Population stability index: Σ (a − e)·ln(a / e), with empty bins floored."""
    return round(float(sum((max(a, EPS) - max(e, EPS)) * math.log(max(a, EPS) / max(e, EPS))
                           for e, a in zip(expected, actual, strict=True))), 4)


def _full(values: pd.Series) -> list[Any]:
    """The values holding at least half as many rows as the most common one."""
    counts = values.value_counts()
    return sorted(counts[counts >= 0.5 * counts.max()].index)


def last_full_date(df: pd.DataFrame) -> str:
    """The latest snapshot date still holding at least half as many students as the fullest one. The very last
    dates can hold a handful of students whose outcome came late (OULAD: one): a drift baseline or an AUC from
    them says nothing about the population."""
    return str(_full(df["as_of"])[-1])


def term_baselines(df: pd.DataFrame, scores: np.ndarray) -> dict[str, Any] | None:
    """Distributions per week into the term (rows whose term start is known; weeks holding at least half as many
    rows as the fullest), on bins common to all weeks so that a run's mix of term positions can be matched.
    Without it a run early in a new term is compared with the end of the training terms and always 'drifts'."""
    if "term_day" not in df or df["term_day"].isna().all():
        return None
    known = df["term_day"].notna().to_numpy()
    week = (df["term_day"].to_numpy(dtype=float)[known] // 7).astype(int)
    cols = {**{f: df[f].to_numpy(dtype=float)[known] for f in FEATURE_NAMES}, "score": np.asarray(scores)[known]}
    edges = {k: bin_edges(v) for k, v in cols.items()}
    weeks = {str(w): {"n": int((week == w).sum()),
                      **{k: proportions(v[week == w], edges[k]) for k, v in cols.items()}}
             for w in _full(pd.Series(week))}
    return {"edges": edges, "weeks": weeks}


def baseline(df: pd.DataFrame, scores: np.ndarray) -> dict[str, Any]:
    """The training window's distributions at its last *full* snapshot date (one row per student, like a run;
    ``last_full_date``): bins from a nearly empty last date made every run 'drift'."""
    day = last_full_date(df)
    last = (df["as_of"] == day).to_numpy()
    out: dict[str, Any] = {"features": {}, "as_of": day}
    for f in FEATURE_NAMES:
        v = df[f].to_numpy(dtype=float)[last]
        edges = bin_edges(v)
        out["features"][f] = {"edges": edges, "expected": proportions(v, edges)}
    edges = bin_edges(scores[last])
    out["score"] = {"edges": edges, "expected": proportions(scores[last], edges)}
    by_week = term_baselines(df, scores)
    if by_week:
        out["by_term_week"] = by_week
    return out
