"""Trial (issue #9): a GRU over per-10-day activity sequences vs the shipped LightGBM on OULAD, in one run.

Per student and day D, one activity vector per 10-day bin (a pre-start bin, then [0,10), [10,20), ... up to
D), built only from what was known by day D: assessments due in the bin, done or missed by D, weight due and
done, hand-ins in the bin (late, early for later deadlines), their scores and z-scores within the assessment,
whether the student was registered by the end of the bin, and the share of the cohort already unregistered;
plus (chosen on lopo, ``--absolute-only`` leaves them out) deadlines met, weight done, hand-ins, mean score and
"has a score" minus the module presentation's mean in the same bin.
Static inputs: prior attempts, credits, registration timing, presentation length, day D. Like the shipped
model, the GRU learns from snapshots every 10 days from D back to 0 (shorter sequences left-padded, masked).

Variants: ``gru`` (sequence + static), ``gru_stack`` (also the LightGBM logit; out-of-presentation scores on
the training rows so the GRU does not learn to trust an overfit score), ``blend`` (mean of the GRU and
LightGBM probabilities). Protocols as ``bench/oulad.py``; choose on lopo only, dev and check reported once.

TensorFlow is not a dependency of the aggregator: the GRU runs in a separate interpreter (``--tf-python``,
a venv with tensorflow-cpu) through ``bench/oulad_gru.py``; this script runs in the project venv.

Run: OMP_NUM_THREADS=1 python bench/oulad_sequence.py --data ../shared/data/oulad --tf-python TF_VENV/bin/python
Prints one line per protocol and day on stderr and one JSON object on its last line.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from oulad import PROTOCOLS, parser  # noqa: E402  (bench/oulad.py: the same four protocols)
from oulad_calibration import oof_scores  # noqa: E402

from cloud_aggregator.records.oulad import load_oulad_tables, subset_tables  # noqa: E402
from cloud_aggregator.warnings.oulad_eval import (  # noqa: E402
    MODEL_FEATURES,
    SNAPSHOT_STEP,
    _model,
    precision_at,
    train_frame,
)
from cloud_aggregator.warnings.oulad_features import KEY, build_features  # noqa: E402

BIN = 10
CHANNELS = ("real", "pos", "registered", "n_due", "w_due", "due_done", "due_missed", "w_done", "n_sub", "n_late",
            "n_early", "mean_score", "mean_z", "has_score", "cohort_gone")
RELATIVE = ("due_done", "w_done", "n_sub", "mean_score", "has_score")  # minus the cohort's mean in the bin
STATIC = ("num_of_prev_attempts", "studied_credits", "reg_days_before_start", "module_presentation_length")


def n_bins(day: int) -> int:
    """A pre-start bin plus one per started 10 days up to ``day``."""
    return 1 + max(0, math.ceil(day / BIN))


def bin_of(x: np.ndarray, day: int) -> np.ndarray:
    """Bin index of day numbers ``x`` (all <= day): 0 before the start, then 10-day bins, day D in the last."""
    x = np.asarray(x, float)
    return np.where(x < 0, 0, 1 + np.minimum(np.floor(np.maximum(x, 0) / BIN), n_bins(day) - 2)).astype(int)


def bin_ends(day: int) -> np.ndarray:
    return np.array([0] + [min(BIN * k, day) for k in range(1, n_bins(day))], float)


def build_sequences(t: dict[str, pd.DataFrame], day: int, rows: pd.DataFrame, width: int,
                    relative: bool = False) -> np.ndarray:
    """(students, width, channels) activity as of ``day`` for ``rows`` (a :func:`build_features` frame).

    Sequences are right-aligned in ``width`` bins; padding bins are all zero (``real`` = 0). ``relative``
    appends :data:`RELATIVE` channels minus their mean over the module presentation's students in the bin
    (what made the LightGBM transfer to unseen modules was standing within the cohort).
    """
    nb = n_bins(day)
    if nb > width:
        raise ValueError("sequence longer than the padded width")
    off = width - nb
    out = np.zeros((len(rows), width, len(CHANNELS)), np.float32)
    ch = {c: i for i, c in enumerate(CHANNELS)}
    pos = pd.Series(np.arange(len(rows)), index=pd.MultiIndex.from_frame(rows[KEY]))
    ends = bin_ends(day)
    out[:, off:, ch["real"]] = 1.0
    out[:, off:, ch["pos"]] = (ends + 30) / 100
    reg = rows["date_registration"].fillna(0).to_numpy(float)
    out[:, off:, ch["registered"]] = (reg[:, None] <= ends[None, :]).astype(np.float32)

    ass = t["assessments"].copy()
    ass["date"] = ass["date"].fillna(ass["date"].max())
    due = ass[(ass["date"] <= day) & (ass["assessment_type"] != "Exam")].copy()
    due["bin"] = bin_of(due["date"].to_numpy(), day)
    sa = t["studentAssessment"].merge(ass, on="id_assessment", how="inner")
    known = sa[sa["date_submitted"] <= day].copy()
    # module-level: what was due in each bin, for every student of the presentation
    pkey = ["code_module", "code_presentation"]
    dmod = due.groupby([*pkey, "bin"]).agg(n=("id_assessment", "size"), w=("weight", "sum")).reset_index()
    prow = rows[pkey].astype(str).agg("/".join, axis=1).to_numpy()
    for (mod, pres), g in dmod.groupby(pkey):
        sel = prow == f"{mod}/{pres}"
        out[np.ix_(sel, off + g["bin"].to_numpy(), [ch["n_due"]])] = g["n"].to_numpy()[None, :, None]
        out[np.ix_(sel, off + g["bin"].to_numpy(), [ch["w_due"]])] = (g["w"].to_numpy() / 100)[None, :, None]
    # per student: deadlines in the bin met by day D (missed = due - done)
    done = known.merge(due[["id_assessment", "bin"]], on="id_assessment")
    done = done.assign(i=pos.reindex(pd.MultiIndex.from_frame(done[KEY])).to_numpy())
    done = done[done["i"].notna()]
    i, b = done["i"].to_numpy(int), off + done["bin"].to_numpy(int)
    np.add.at(out[:, :, ch["due_done"]], (i, b), 1.0)
    np.add.at(out[:, :, ch["w_done"]], (i, b), done["weight"].to_numpy(float) / 100)
    out[:, :, ch["due_missed"]] = np.clip(out[:, :, ch["n_due"]] - out[:, :, ch["due_done"]], 0, None)
    # hand-ins made in the bin (own work, not banked)
    own = known[known["is_banked"].fillna(0) == 0].copy()
    own = own.assign(i=pos.reindex(pd.MultiIndex.from_frame(own[KEY])).to_numpy())
    own = own[own["i"].notna()]
    ga = own.dropna(subset=["score"]).groupby("id_assessment")["score"]
    own["z"] = ((own["score"] - ga.transform("mean")) / ga.transform("std").replace(0, np.nan)).fillna(0)
    i, b = own["i"].to_numpy(int), off + bin_of(own["date_submitted"].to_numpy(), day)
    np.add.at(out[:, :, ch["n_sub"]], (i, b), 1.0)
    np.add.at(out[:, :, ch["n_late"]], (i, b), (own["date_submitted"] > own["date"]).to_numpy(float))
    np.add.at(out[:, :, ch["n_early"]], (i, b), (own["date"] > day).to_numpy(float))
    has = own["score"].notna().to_numpy()
    cnt = np.zeros(out.shape[:2])
    np.add.at(cnt, (i[has], b[has]), 1.0)
    for name, vals in (("mean_score", own["score"].to_numpy(float) / 100), ("mean_z", own["z"].to_numpy(float))):
        s = np.zeros(out.shape[:2])
        np.add.at(s, (i[has], b[has]), vals[has])
        out[:, :, ch[name]] = np.where(cnt > 0, s / np.maximum(cnt, 1), 0.0)
    out[:, :, ch["has_score"]] = (cnt > 0).astype(np.float32)
    # cohort context: share of the presentation's registrations already gone by the end of each bin
    r = t["studentRegistration"]
    for (mod, pres), g in r.groupby(pkey):
        un = g["date_unregistration"].to_numpy(float)
        share = np.array([np.mean(np.nan_to_num(un, nan=np.inf) <= e) for e in ends], np.float32)
        out[prow == f"{mod}/{pres}", off:, ch["cohort_gone"]] = share[None, :]
    if not relative:
        return out
    rel = out[:, :, [ch[c] for c in RELATIVE]].copy()
    for k in set(prow):
        sel = prow == k
        rel[sel, off:] -= rel[sel, off:].mean(axis=0, keepdims=True)
    return np.concatenate([out, rel], axis=2)


def static(rows: pd.DataFrame, day: int) -> np.ndarray:
    x = rows[list(STATIC)].fillna(0).to_numpy(np.float32) / np.array([1, 100, 100, 300], np.float32)
    return np.column_stack([x, np.full(len(rows), day / 300, np.float32)])


def train_arrays(t: dict, day: int, tr: pd.DataFrame, relative: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Sequences and static inputs for every snapshot row of ``tr`` (a :func:`train_frame` frame), in order."""
    width = n_bins(day)
    seq = np.zeros((len(tr), width, len(CHANNELS) + relative * len(RELATIVE)), np.float32)
    sta = np.zeros((len(tr), len(STATIC) + 1), np.float32)
    for d in sorted(tr["snapshot_day"].unique()):
        sel = (tr["snapshot_day"] == d).to_numpy()
        rows = tr[sel]
        seq[sel] = build_sequences(t, int(d), rows, width, relative)
        sta[sel] = static(rows, int(d))
    return seq, sta


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    return {"auc": round(float(roc_auc_score(y, p)), 4), "pr_auc": round(float(average_precision_score(y, p)), 4),
            "precision_at_10pct": round(precision_at(y, p), 4), "calibration_gap": round(float(p.mean() - y.mean()), 4)}


def run_gru(tf_python: str, arrays: dict[str, np.ndarray], cfg: dict) -> dict[str, np.ndarray]:
    """Train the GRU variants in the TensorFlow interpreter; returns test probabilities per variant."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(src, **arrays)
        env = os.environ | {"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
                            "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
        subprocess.run([tf_python, str(Path(__file__).with_name("oulad_gru.py")), str(src), str(dst),
                        json.dumps(cfg)], check=True, env=env)
        with np.load(dst) as z:
            return {k: z[k] for k in z.files}


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--tf-python", required=True, help="python of a venv with tensorflow-cpu")
    ap.add_argument("--variants", default="gru,gru_stack")
    ap.add_argument("--units", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--absolute-only", dest="relative", action="store_false",
                    help="leave out the within-cohort relative channels (chosen on lopo: they help)")
    args = ap.parse_args()
    tables = load_oulad_tables(Path(args.data))
    cfg = {"variants": args.variants.split(","), "units": args.units, "epochs": args.epochs, "seed": 0}
    res: dict[str, dict] = {}
    t_all = time.time()
    for d in (int(x) for x in args.days.split(",")):
        for name in args.protocols.split(","):
            t0 = time.time()
            trp, tep = PROTOCOLS[name]
            ttr, tte = subset_tables(tables, trp), subset_tables(tables, tep)
            tr, te = train_frame(ttr, d, SNAPSHOT_STEP), build_features(tte, d)
            y = te["y"].to_numpy()
            lgbm = _model().fit(tr[MODEL_FEATURES], tr["y"])
            p_lgbm = lgbm.predict_proba(te[MODEL_FEATURES])[:, 1]
            arrays = {"y_tr": tr["y"].to_numpy(np.float32), "lgbm_te": p_lgbm.astype(np.float32)}
            arrays["seq_tr"], arrays["sta_tr"] = train_arrays(ttr, d, tr, args.relative)
            arrays["seq_te"] = build_sequences(tte, d, te, n_bins(d), args.relative)
            arrays["sta_te"] = static(te, d)
            if "gru_stack" in cfg["variants"]:
                arrays["lgbm_tr"] = oof_scores(tr, MODEL_FEATURES, _model).astype(np.float32)
            preds = run_gru(args.tf_python, arrays, cfg)
            row = {"lgbm": metrics(y, p_lgbm)}
            for v, p in preds.items():
                row[v] = metrics(y, p.astype(float))
            if "gru" in preds:
                row["blend"] = metrics(y, (preds["gru"].astype(float) + p_lgbm) / 2)
            row["n_test"], row["n_train_rows"], row["seconds"] = len(te), len(tr), round(time.time() - t0, 1)
            res[f"{name}/day{d}"] = row
            print(json.dumps({f"{name}/day{d}": {k: v["auc"] if isinstance(v, dict) else v
                                                 for k, v in row.items()}}), file=sys.stderr, flush=True)
    res["seconds_total"] = round(time.time() - t_all, 1)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
