"""The risk model's life cycle on a store: train → version → score in runs → drift check → effects.

``train`` builds the training set from the institution's own records and outcomes, measures the
model on held-out students next to the rules, refits on everything and writes a versioned model file
plus a ``risk_models`` row (window, metrics, fairness per group when the outcome import has group
columns). Runs score with the active version: probability → level (``risk.levels``) → top reasons
from per-feature contributions. With no trained model runs use the rules only and say so.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cloud_aggregator.config.warnings import WarningsConfig
from cloud_aggregator.store import db, interventions, iso
from cloud_aggregator.store.analysable import analysable_students
from cloud_aggregator.store.risk_drift import latest_drift, record_drift
from cloud_aggregator.store.risk_models import activate_model, active_model
from cloud_aggregator.store.source_freshness import records_span

from . import risk_model as rm
from . import routing
from .risk_features import FEATURE_NAMES, features, shown

if TYPE_CHECKING:
    from cloud_aggregator.store import Store

log = logging.getLogger(__name__)


class TrainingError(RuntimeError):
    """Not enough outcomes (or of one class only) to train and check a model."""


@dataclass
class ActiveModel:
    version: str
    model: rm.RiskModel
    row: dict[str, Any]

    @property
    def recent_days(self) -> int:
        """The 'recent' window the model was trained with (features must mean the same when scoring)."""
        return int(self.row.get("baseline", {}).get("recent_days", 28))


def model_dir(store: Store, cfg: WarningsConfig) -> Path:
    if cfg.risk.model_dir is not None:
        return cfg.risk.model_dir
    main = db.database_file(store)
    return Path(main).parent / "risk-models" if main else Path("risk-models").resolve()


def train(store: Store, cfg: WarningsConfig, now: datetime | None = None, trigger: str = "cli",
          until: str | None = None) -> dict[str, Any]:
    """Train, check on held-out students, refit on all, store file + row, make it the active version."""
    now = now or datetime.now(timezone.utc)
    rc = cfg.risk
    t0 = time.monotonic()
    df = rm.training_set(store, cfg.students, rc.step_days, rc.min_days, until)
    n_students = int(df["student"].nunique()) if not df.empty else 0
    if n_students < rc.min_students or df["y"].nunique() < 2:
        raise TrainingError(f"{n_students} students with a known outcome (need {rc.min_students}, both at risk and not)"
                            " — import outcomes first (cloud-aggregator import outcomes DIR)")
    tr, te = rm.split_students(df, rc.holdout, rc.seed)
    cv: dict[str, float] = {}
    kind: rm.ModelKind
    if rc.kind == "auto":
        kind, cv = rm.choose_kind(tr, rc.seed)
    else:
        kind = rc.kind
    metrics, p_test = rm.evaluate(tr, te, kind, rc.seed)
    metrics["cv_auc"] = cv
    fair = rm.fairness(te, p_test)
    model = rm.fit(df, kind, rc.seed)
    base = {**rm.baseline(df, model.predict(df)), "recent_days": cfg.students.recent_days}
    train_s = round(time.monotonic() - t0, 2)
    text = json.dumps({"model": json.loads(model.to_json()), "baseline": base})
    sha = hashlib.sha256(text.encode()).hexdigest()
    version = f"risk-{now.strftime('%Y%m%d%H%M%S')}-{sha[:8]}"
    folder = model_dir(store, cfg)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{version}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    row = {"version": version, "created_at": iso(now), "kind": kind, "path": str(path.resolve()), "sha256": sha,
           "features": json.dumps(list(FEATURE_NAMES)), "window_start": df["as_of"].min(),
           "window_end": df["as_of"].max(), "n_rows": len(df), "n_students": n_students,
           "metrics": json.dumps(metrics, sort_keys=True), "fairness": json.dumps(fair, sort_keys=True),
           "train_s": train_s, "active": 1, "trigger": trigger}
    activate_model(store, row)
    return {**row, "metrics": metrics, "fairness": fair, "features": list(FEATURE_NAMES)}


def active(store: Store) -> ActiveModel | None:
    """The active model version, its file checked against the stored sha256 (None: rules only)."""
    row = active_model(store)
    if row is None:
        return None
    try:
        text = Path(row["path"]).read_text(encoding="utf-8")
    except OSError as e:
        log.warning("risk model %s: file unreadable (%s); rules only", row["version"], e)
        return None
    if hashlib.sha256(text.encode()).hexdigest() != row["sha256"]:
        log.warning("risk model %s: file does not match its sha256; rules only", row["version"])
        return None
    d = json.loads(text)
    row["baseline"] = d["baseline"]
    return ActiveModel(row["version"], rm.RiskModel.from_json(json.dumps(d["model"])), row)


def frame(store: Store, students: list[str], as_of: str, recent_days: int) -> pd.DataFrame:
    f = features(store, students, as_of, recent_days)
    return pd.DataFrame([{"student": p, **v} for p, v in f.items()], columns=["student", *FEATURE_NAMES])


def reasons(am: ActiveModel, df: pd.DataFrame, top: int) -> list[list[dict[str, Any]]]:
    """Per row: the ``top`` features that raise the risk most, as message keys with their values."""
    if df.empty:
        return []
    contrib = am.model.contributions(df)
    out = []
    for i in range(len(df)):
        order = np.argsort(-contrib[i])
        rs: list[dict[str, Any]] = []
        for j in order:
            if contrib[i, j] <= 0 or len(rs) >= top:
                break
            f = am.model.features[j]
            value = shown(f, float(df.iloc[i][f]))  # missing data can raise risk too: say so in words
            if value is not None and f.endswith("_drop") and value <= 0:
                continue  # "0 points below the term" (or below zero) is no reason to act on: take the next one
            rs.append({"key": f"reason.risk.{f}" + (".none" if value is None else ""),
                       "params": {"value": value, "weight": round(float(contrib[i, j]), 3)}})
        out.append(rs)
    return out


def score_rows(store: Store, cfg: WarningsConfig, am: ActiveModel, students: list[str], as_of: str,
               week: str) -> tuple[list[dict[str, Any]], pd.DataFrame, np.ndarray]:
    """Risk warnings (level ≥ 1) for ``students`` as of ``as_of``, plus the frame and scores for drift."""
    df = frame(store, students, as_of, am.recent_days)
    p = am.model.predict(df)
    rs = reasons(am, df, cfg.risk.top_reasons)
    rows = []
    for i, s in enumerate(df["student"]):
        level = cfg.risk.levels.level(float(p[i]))
        if level:
            reasons_i = [{"key": "reason.risk", "params": {"score": round(float(p[i]) * 100), "model": am.version}},
                         *rs[i]]
            rows.append({"id": f"{s}:risk:{week}", "scope": "student", "subject": s, "section_id": None, "type": "risk",
                         "level": level, "reasons": reasons_i, "score": round(float(p[i]), 4)})
    return rows, df, p


# ---------------------------------------------------------------- drift
def drift_due(store: Store, cfg: WarningsConfig, now: datetime) -> bool:
    last = latest_drift(store)
    return not last or datetime.fromisoformat(last["ts"].replace("Z", "+00:00")) + timedelta(
        days=cfg.risk.drift.every_days) <= now


def _nearest_week(stored: list[int], week: float) -> int:
    """The stored term week closest to ``week`` (the earlier one on a tie)."""
    return min(stored, key=lambda s: (abs(s - week), s))


def drift_report(am: ActiveModel, df: pd.DataFrame, scores: np.ndarray,
                 term_day: dict[str, int] | None = None) -> dict[str, Any]:
    """PSI of each feature and of the scores: training window (baseline) vs this population. With the students'
    days into the term (``term_day``) and a model with per-week baselines, each student is compared with the
    training rows at the same week of the term (the nearest week stored), mixed in this run's proportions;
    else (or with under half the students placed in a term) with the training window's last full snapshot."""
    base = am.row["baseline"]
    tb = base.get("by_term_week")
    week = df["student"].map(term_day or {}).to_numpy(dtype=float) // 7
    known = ~np.isnan(week)
    if tb and known.any() and known.mean() >= 0.5:
        stored = sorted(int(w) for w in tb["weeks"])
        near = pd.Series([_nearest_week(stored, float(w)) for w in week[known]]).value_counts(
            normalize=True)
        cols = {**{f: df[f].to_numpy(dtype=float)[known] for f in FEATURE_NAMES}, "score": np.asarray(scores)[known]}
        psis = {k: rm.psi([sum(float(near[w]) * tb["weeks"][str(w)][k][i] for w in near.index)
                           for i in range(len(tb["edges"][k]) + 2)], rm.proportions(v, tb["edges"][k]))
                for k, v in cols.items()}
        score = psis.pop("score")
        return {"psi": psis, "score_psi": score, "max_psi": max([score, *psis.values()]),
                "baseline": {"term_weeks": {str(w): round(float(near[w]), 3) for w in sorted(near.index)}}}
    out = {}
    for f in FEATURE_NAMES:
        b = base["features"][f]
        out[f] = rm.psi(b["expected"], rm.proportions(df[f].to_numpy(dtype=float), b["edges"]))
    score = rm.psi(base["score"]["expected"], rm.proportions(scores, base["score"]["edges"]))
    return {"psi": out, "score_psi": score, "max_psi": max([score, *out.values()]),
            "baseline": {"as_of": base.get("as_of")}}


def check_drift(store: Store, cfg: WarningsConfig, am: ActiveModel, df: pd.DataFrame, scores: np.ndarray,
                run_id: str, data_as_of: str, now: datetime) -> dict[str, Any]:
    """Record a drift row; above the threshold retrain (or recommend it, per config)."""
    rep = drift_report(am, df, scores, routing.term_days(store, data_as_of))
    flagged = rep["max_psi"] > cfg.risk.drift.psi_threshold
    action, new_version = "none", None
    if flagged and cfg.risk.drift.on_drift == "retrain":
        try:
            new_version = train(store, cfg, now, trigger="drift")["version"]
            action = "retrained"
        except (TrainingError, ValueError) as e:
            action = f"retrain failed: {e}"[:300]
    elif flagged:
        action = "retrain recommended"
    row = {"id": db.new_id(), "ts": iso(now), "run_id": run_id, "model_version": am.version, "data_as_of": data_as_of,
           "psi": json.dumps(rep["psi"], sort_keys=True), "score_psi": rep["score_psi"], "max_psi": rep["max_psi"],
           "flagged": int(flagged), "action": action, "new_version": new_version}
    record_drift(store, row)
    return {**row, "psi": rep["psi"], "baseline": rep["baseline"]}


# ---------------------------------------------------------------- intervention effects
def _scores_at(store: Store, cfg: WarningsConfig, am: ActiveModel, students: list[str], day: str) -> dict[str, float]:
    df = frame(store, students, day, am.recent_days)
    return dict(zip(df["student"], am.model.predict(df).round(4).tolist(), strict=True))


def intervention_effects(store: Store, cfg: WarningsConfig, am: ActiveModel, now: datetime) -> int:
    """For each intervention with an outcome: risk at the intervention date and 2 and 4 weeks later (when the
    records reach that far), and the same change for comparable students without an intervention
    (risk within ± ``comparison_band`` at the same date). Returns the number (re)computed."""
    span = records_span(store)  # the records' last day (not attendance only: OULAD has none), capped at
    if span is None:            # the run's date so a replay never looks past it
        return 0
    last = min(span[1], now.date().isoformat())
    ivs = interventions.interventions_with_outcome(store)
    done = {r["intervention_id"]: r for r in interventions.intervention_effects(store)}
    pool = analysable_students(store)
    treated = interventions.students_with_interventions(store)
    controls = [p for p in pool if p not in treated]
    d2, d4 = cfg.risk.follow_up_days
    out: list[dict[str, Any]] = []
    cache: dict[tuple[str, str], dict[str, float]] = {}
    people: dict[str, list[str]] = {}

    def population(day0: str) -> list[str]:
        """Students enrolled on the intervention's day (or with no enrolments recorded): comparable peers are
        classmates of that time, not students who had left or finished (and are cheaper to score)."""
        if day0 not in people:
            current, enrolled = routing.current_sections(store, day0)
            people[day0] = [p for p in controls + sorted(treated & set(pool)) if p in current or p not in enrolled]
        return people[day0]

    def scores(day0: str, day: str) -> dict[str, float]:
        if (day0, day) not in cache:
            cache[(day0, day)] = _scores_at(store, cfg, am, population(day0), day)
        return cache[(day0, day)]

    for iv in ivs:
        prev = done.get(iv["id"])
        if prev and prev["model_version"] == am.version and prev["score_4w"] is not None:
            continue
        day = min(iv["created_at"][:10], last)
        f2, f4 = (date.fromisoformat(day) + timedelta(days=d2)).isoformat(), \
            (date.fromisoformat(day) + timedelta(days=d4)).isoformat()
        p = iv["student_pseudonym"]

        def at(d: str, day0: str = day) -> dict[str, float]:
            return scores(day0, d)
        before = at(day).get(p)
        s2 = at(f2).get(p) if f2 <= last else None
        s4 = at(f4).get(p) if f4 <= last else None
        comp: dict[str, Any] = {"n": 0}
        if before is not None:
            band = cfg.risk.comparison_band
            peers = [c for c in controls if c in at(day) and abs(at(day)[c] - before) <= band]
            comp = {"n": len(peers), "mean_before": _mean([at(day)[c] for c in peers])}
            if s2 is not None:
                comp["mean_2w"] = _mean([at(f2)[c] for c in peers if c in at(f2)])
            if s4 is not None:
                comp["mean_4w"] = _mean([at(f4)[c] for c in peers if c in at(f4)])
        out.append({"intervention_id": iv["id"], "student_pseudonym": p, "kind": iv["kind"],
                    "model_version": am.version, "at_date": day, "score_before": before, "score_2w": s2,
                    "score_4w": s4, "comparison": json.dumps(comp, sort_keys=True), "computed_at": iso(now)})
    interventions.save_effects(store, out)
    return len(out)


def _mean(xs: list[float]) -> float | None:
    return round(sum(xs) / len(xs), 4) if xs else None


def effect_view(r: dict[str, Any]) -> dict[str, Any]:
    comp = json.loads(r["comparison"] or "{}")
    out = {"model_version": r["model_version"], "at_date": r["at_date"], "score_before": r["score_before"],
           "score_2w": r["score_2w"], "score_4w": r["score_4w"], "comparison": comp}
    for k in ("2w", "4w"):
        s = r[f"score_{k}"]
        out[f"change_{k}"] = None if s is None or r["score_before"] is None else round(s - r["score_before"], 4)
        cb, ca = comp.get("mean_before"), comp.get(f"mean_{k}")
        out[f"comparison_change_{k}"] = None if cb is None or ca is None else round(ca - cb, 4)
    return out


def effect_summary(store: Store) -> dict[str, dict[str, Any]]:  # noqa: ANN401
    """Per intervention kind: mean risk change at 2 and 4 weeks vs comparable students without one."""
    per: dict[str, list[dict[str, Any]]] = {}
    for r in interventions.intervention_effects(store):
        per.setdefault(r["kind"], []).append(effect_view(r))
    out = {}
    for kind, vs in sorted(per.items()):
        row: dict[str, Any] = {"n": len(vs)}
        for k in ("2w", "4w"):
            pairs = [(v[f"change_{k}"], v[f"comparison_change_{k}"]) for v in vs
                     if v[f"change_{k}"] is not None and v[f"comparison_change_{k}"] is not None]
            row[f"n_{k}"] = len(pairs)
            row[f"mean_change_{k}"] = _mean([a for a, _ in pairs])
            row[f"comparison_change_{k}"] = _mean([b for _, b in pairs])
            row[f"difference_{k}"] = None if not pairs else round(row[f"mean_change_{k}"] - row[f"comparison_change_{k}"], 4)
        out[kind] = row
    return out

