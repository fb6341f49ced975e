"""The OULAD risk model: leakage-free features as of day D, protected attributes kept out, the eval CLI.

Fast tests run on generated OULAD-like folders (a latent engagement drives submissions, scores and
the outcome); one optional test runs the dev split on the real data when ../shared/data is beside
the repository.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cloud_aggregator.cli import main as cli_main
from cloud_aggregator.records.oulad import load_oulad_tables, subset_tables
from cloud_aggregator.warnings.oulad_calibration import gap_interval
from cloud_aggregator.warnings.oulad_eval import (
    BASELINE_FEATURES,
    MODEL_FEATURES,
    evaluate,
    evaluate_frames,
    train_frame,
)
from cloud_aggregator.warnings.oulad_features import KEY, PROTECTED, build_features

MODULES = ("AAA", "BBB")
# (type, due day, weight, completion-only): a completion check, graded TMAs, a graded zero-weight quiz due late
PLAN = (("CMA", 10, 0.0, True), ("TMA", 20, 10.0, False), ("TMA", 50, 20.0, False), ("TMA", 80, 30.0, False),
        ("TMA", 120, 40.0, False), ("CMA", 200, 0.0, False), ("Exam", None, 100.0, False))


def make_oulad(folder: Path, presentations: tuple[str, ...], n: int = 250, seed: int = 0) -> Path:
    """Write an OULAD-shaped folder where engagement (not demographics) drives the outcome."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    courses, ass, info, reg, sa = [], [], [], [], []
    aid, sid = 1000, 1
    for pres in presentations:
        for mi, mod in enumerate(MODULES):
            courses.append((mod, pres, 240))
            ids = []
            for kind, day, w, completion in PLAN:
                ass.append((mod, pres, aid, kind, day, w))
                ids.append((aid, day, w, completion))
                aid += 1
            for _ in range(n):
                a = rng.normal()
                y = rng.random() < 1 / (1 + np.exp(1.6 * a - 0.3 * mi))
                withdraw = y and rng.random() < 0.5
                unreg = int(rng.integers(5, 180)) if withdraw else None
                result = "Withdrawn" if withdraw else ("Fail" if y else rng.choice(["Pass", "Distinction"], p=[.8, .2]))
                info.append((mod, pres, sid, rng.choice(["M", "F"]), "Wales", "A Level or Equivalent",
                             rng.choice(["0-10%", "10-20", "50-60%", ""]), rng.choice(["0-35", "35-55", "55<="]), 0,
                             60, rng.choice(["N", "Y"], p=[.9, .1]), result))
                reg.append((mod, pres, sid, int(rng.integers(-60, 5)), unreg))
                for a_id, day, w, completion in ids:
                    due = day if day is not None else 235
                    stop = unreg if unreg is not None else 999
                    if w == 100.0 or rng.random() > 1 / (1 + np.exp(-(1.2 + 1.5 * a - 1.0 * y))):
                        continue
                    sub = (int(rng.integers(0, due + 1)) if day == 200 else due + int(rng.integers(-5, 4)))
                    if sub >= stop:
                        continue
                    score = 100.0 if completion else float(np.clip(round(65 + 12 * a - 10 * y + rng.normal(0, 8)), 0, 100))
                    sa.append((a_id, sid, sub, 0, score))
                sid += 1
    cols = {"courses": ["code_module", "code_presentation", "module_presentation_length"],
            "assessments": ["code_module", "code_presentation", "id_assessment", "assessment_type", "date", "weight"],
            "studentInfo": ["code_module", "code_presentation", "id_student", "gender", "region", "highest_education",
                            "imd_band", "age_band", "num_of_prev_attempts", "studied_credits", "disability",
                            "final_result"],
            "studentRegistration": ["code_module", "code_presentation", "id_student", "date_registration",
                                    "date_unregistration"],
            "studentAssessment": ["id_assessment", "id_student", "date_submitted", "is_banked", "score"]}
    for name, rows in (("courses", courses), ("assessments", ass), ("studentInfo", info),
                       ("studentRegistration", reg), ("studentAssessment", sa)):
        df = pd.DataFrame(rows, columns=cols[name])
        for c in ("date", "date_unregistration"):
            if c in df:
                df[c] = df[c].astype("Int64")
        df.to_csv(folder / f"{name}.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def gen(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("oulad")
    return {"train": make_oulad(root / "train", ("2013B", "2013J"), seed=1),
            "test": make_oulad(root / "test", ("2014B",), seed=2)}


def _future_changed(t: dict, day: int) -> dict:
    """Everything learnt after ``day`` rewritten: later submissions and scores, labels, later unregistrations."""
    t = {k: v.copy() for k, v in t.items()}
    sa = t["studentAssessment"]
    later = sa["date_submitted"] > day
    sa.loc[later, "score"] = 0.0
    sa.loc[later, "date_submitted"] = sa.loc[later, "date_submitted"] + 3
    t["studentAssessment"] = pd.concat([sa, sa[later].assign(id_assessment=sa["id_assessment"].max())])
    reg = t["studentRegistration"]
    reg.loc[reg["date_unregistration"] > day, "date_unregistration"] = day + 1
    return t


def test_features_use_only_what_was_known_by_day_d(gen):
    t = load_oulad_tables(gen["train"])
    day = 60
    a = build_features(t, day).sort_values(KEY).reset_index(drop=True)
    b = build_features(_future_changed(t, day), day).sort_values(KEY).reset_index(drop=True)
    pd.testing.assert_frame_equal(a[MODEL_FEATURES], b[MODEL_FEATURES])
    gone = t["studentRegistration"].query("date_unregistration <= @day")["id_student"]
    assert len(gone) and not set(gone) & set(a["id_student"])  # withdrawn by day D: known, not scored


def test_protected_attributes_are_never_features_and_do_not_move_scores(gen):
    assert not set(PROTECTED) & set(MODEL_FEATURES) and not set(PROTECTED) & set(BASELINE_FEATURES)
    assert "highest_education" not in MODEL_FEATURES and "region" not in MODEL_FEATURES
    tr = train_frame(load_oulad_tables(gen["train"]), 60)
    te = build_features(load_oulad_tables(gen["test"]), 60)
    shuffled = te.copy()
    rng = np.random.default_rng(0)
    for c in PROTECTED:
        shuffled[c] = rng.permutation(shuffled[c].to_numpy())
    a, b = evaluate_frames(tr, te, 60), evaluate_frames(tr, shuffled, 60)
    assert a["auc"] == b["auc"] and a["auc_by_group"] != b["auc_by_group"]


def test_streaks_recency_and_zero_weight_handling(gen):
    t = load_oulad_tables(gen["train"])
    f = build_features(t, 90).set_index("id_student")
    sa = t["studentAssessment"].merge(t["assessments"], on="id_assessment")
    known = sa[sa["date_submitted"] <= 90]
    check, quiz = (set(known.loc[known["date"] == d, "id_student"]) for d in (10, 200))
    checked = 0
    for s in sorted(check & quiz & set(f.index))[:20]:  # did the completion check and the late quiz early
        row, mine = f.loc[s], known[known["id_student"] == s]
        mod_ass = t["assessments"][(t["assessments"]["code_module"] == row["code_module"])
                                   & (t["assessments"]["code_presentation"] == row["code_presentation"])]
        due_ids = mod_ass[(mod_ass["date"] <= 90) & (mod_ass["assessment_type"] != "Exam")].sort_values("date")
        hit = [i in set(mine["id_assessment"]) for i in due_ids["id_assessment"]]
        streak = next((k for k, h in enumerate(reversed(hit)) if h), len(hit))
        assert row["missed_streak"] == streak and row["last_due_done"] == int(hit[-1])
        assert row["days_since_last_submit"] == 90 - mine["date_submitted"].max()
        assert row["all_score"] == pytest.approx(mine.loc[mine["date"] != 10, "score"].mean())  # check left out
        assert row["n_early_future"] == 1  # the zero-weight quiz due on day 200, handed in by day 90
        checked += 1
    assert checked == 20


def test_cli_prints_the_metrics_and_beats_chance(gen, capsys):
    rc = cli_main(["eval", "oulad", "--train", str(gen["train"]), "--test", str(gen["test"]), "--day", "60"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"auc", "pr_auc", "precision_at_10pct", "auc_by_group"} <= set(out)
    assert set(out["auc_by_group"]) == set(PROTECTED)
    assert out["auc"] > 0.75 and out["precision_at_10pct"] > 0.7
    assert set(out["calibration_gap_by_module"]) == set(MODULES)
    ci = out["calibration_gap_ci_by_group"]
    for col in PROTECTED:
        assert set(ci[col]) == set(out["calibration_gap_by_group"][col])
        for val, cell in ci[col].items():
            assert cell["gap"] == pytest.approx(out["calibration_gap_by_group"][col][val], abs=1e-4)
            assert cell["n"] == out["n_by_group"][col][val] and cell["lo"] <= cell["gap"] <= cell["hi"]


def test_calibration_intervals_tell_real_gaps_from_small_group_noise():
    rng = np.random.default_rng(0)
    p_big, p_small = rng.uniform(0.2, 0.8, 4000), rng.uniform(0.2, 0.8, 30)
    # over-predicted by 0.10 in both groups: the large group's interval excludes 0, the small one's cannot
    big = gap_interval((rng.random(4000) < p_big - 0.1).astype(int), p_big)
    small = gap_interval((rng.random(30) < p_small - 0.1).astype(int), p_small)
    assert big["lo"] > 0.05 and big["lo"] <= 0.1 <= big["hi"] and big["n"] == 4000
    assert small["lo"] < 0 < small["hi"] and small["hi"] - small["lo"] > 3 * (big["hi"] - big["lo"])
    # calibrated scores: the 95 % interval holds 0 in roughly 95 % of repeated samples
    hits = 0
    for _ in range(200):
        p = rng.uniform(0.1, 0.9, 200)
        c = gap_interval((rng.random(200) < p).astype(int), p, n_boot=400, seed=int(rng.integers(1 << 30)))
        hits += c["lo"] <= 0 <= c["hi"]
    assert 0.88 <= hits / 200 <= 0.99


def test_test_presentations_seen_in_training_are_refused(gen):
    with pytest.raises(ValueError, match="not also in the train folder"):
        evaluate(gen["train"], gen["train"], 30)


def test_training_snapshots_never_come_after_day_d(gen):
    t = load_oulad_tables(gen["train"])
    tr = train_frame(t, 25)
    assert sorted(tr["snapshot_day"].unique()) == [5, 15, 25]  # day 25 and 10, 20 days earlier; none below 0
    te = build_features(load_oulad_tables(gen["test"]), 25)
    with pytest.raises(ValueError, match="after day D"):
        evaluate_frames(train_frame(t, 35), te, 25)
    base = evaluate_frames(tr, te, 25, baseline=True)
    assert base["n_train"] == len(build_features(t, 25))  # the baseline stays on the day-D snapshot


@pytest.mark.slow
def test_dev_split_on_shared_data_beats_the_baseline(shared_data):
    t = load_oulad_tables(shared_data / "oulad")
    tr = train_frame(subset_tables(t, {"2013B", "2013J"}), 60)
    te = build_features(subset_tables(t, {"2014B"}), 60)
    ours, base = evaluate_frames(tr, te, 60), evaluate_frames(tr, te, 60, baseline=True)
    assert ours["auc"] >= 0.80 and ours["auc"] > base["auc"] + 0.02
    assert ours["n_test"] == len(te)
