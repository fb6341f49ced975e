"""Leakage-free per-student features as of day D of an OULAD presentation (pure pandas).

Only what was known by day D: registration, assessments due by D and submissions
made by D with their scores, prior attempts and credits. Protected attributes
(gender, age band, disability, deprivation) are never features; they are kept
beside the matrix for the fairness audit. Zero-weight assessments count for
submission behaviour but not for the weighted score; those whose scores are real
grades (FFF, GGG) also count for the per-assessment standing, completion checks
(scores nearly all 0/1/100) never do. Scores count from their submission day
(OULAD has no marking date).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PROTECTED = ("gender", "age_band", "disability", "imd_band")
KEY = ["code_module", "code_presentation", "id_student"]


def _slope(g: pd.DataFrame) -> float:
    if len(g) < 2:
        return 0.0
    x = g["date"].to_numpy(float)
    y = g["score"].to_numpy(float)
    if np.ptp(x) == 0:
        return 0.0
    return float(np.polyfit(x, y, 1)[0])


def build_features(t: dict[str, pd.DataFrame], day: int) -> pd.DataFrame:
    """One row per student-presentation still registered on ``day``; features + label + protected columns."""
    info = t["studentInfo"].copy()
    reg = t["studentRegistration"]
    df = info.merge(reg, on=KEY, how="left").merge(t["courses"], on=["code_module", "code_presentation"], how="left")
    gone = df["date_unregistration"].notna() & (df["date_unregistration"] <= day)
    df = df[~gone].copy()
    df["reg_days_before_start"] = -df["date_registration"].fillna(0)

    ass = t["assessments"].copy()
    ass["date"] = ass["date"].fillna(ass["date"].max())
    due = ass[(ass["date"] <= day) & (ass["assessment_type"] != "Exam")]
    sa = t["studentAssessment"].merge(ass, on="id_assessment", how="inner")
    known = sa[sa["date_submitted"] <= day].copy()
    known["late_days"] = (known["date_submitted"] - known["date"]).clip(lower=0)
    known["is_late"] = known["date_submitted"] > known["date"]
    known["weighted"] = known["weight"] > 0
    scored = known[known["weighted"] & known["score"].notna()]

    n_due = due.groupby(["code_module", "code_presentation"]).size().rename("n_due").reset_index()
    df = df.merge(n_due, on=["code_module", "code_presentation"], how="left")
    df["n_due"] = df["n_due"].fillna(0)
    due_ids = set(due["id_assessment"])
    sub_due = known[known["id_assessment"].isin(due_ids)].groupby("id_student_key" if False else KEY).size()
    df = df.merge(sub_due.rename("n_submitted_due").reset_index(), on=KEY, how="left")
    g = known.groupby(KEY)
    agg = pd.DataFrame({
        "n_submitted": g.size(),
        "n_late": g["is_late"].sum(),
        "mean_late_days": g["late_days"].mean(),
        "n_banked": g["is_banked"].sum(),
        "mean_submit_margin": (g["date"].mean() - g["date_submitted"].mean()),
    }).reset_index()
    gs = scored.groupby(KEY)
    wmean = (scored.assign(ws=scored["score"] * scored["weight"]).groupby(KEY)["ws"].sum()
             / gs["weight"].sum()).rename("weighted_score")
    sagg = pd.DataFrame({
        "mean_score": gs["score"].mean(), "min_score": gs["score"].min(), "last_score":
        scored.sort_values("date").groupby(KEY)["score"].last(),
        "tma_score": scored[scored["assessment_type"] == "TMA"].groupby(KEY)["score"].mean(),
        "cma_score": scored[scored["assessment_type"] == "CMA"].groupby(KEY)["score"].mean(),
        "score_slope": (scored.groupby(KEY)[["date", "score"]].apply(_slope) if len(scored)
                        else pd.Series(dtype=float, index=pd.MultiIndex.from_tuples([], names=KEY))),
        "weight_done": gs["weight"].sum(),
    }).join(wmean).reset_index()
    df = df.merge(agg, on=KEY, how="left").merge(sagg, on=KEY, how="left")
    for c in ("n_submitted", "n_late", "n_banked", "n_submitted_due", "weight_done"):
        df[c] = df[c].fillna(0)
    df["n_missed"] = (df["n_due"] - df["n_submitted_due"]).clip(lower=0)
    df["share_missed"] = np.where(df["n_due"] > 0, df["n_missed"] / df["n_due"].clip(lower=1), 0.0)
    due_weight = due.groupby(["code_module", "code_presentation"])["weight"].sum().rename("due_weight").reset_index()
    df = df.merge(due_weight, on=["code_module", "code_presentation"], how="left")
    df["due_weight"] = df["due_weight"].fillna(0)
    df["weight_missing"] = (df["due_weight"] - df["weight_done"]).clip(lower=0)
    # relative to the cohort of the same module presentation: removes module difficulty from scores
    grp = df.groupby(["code_module", "code_presentation"])
    for c in ("weighted_score", "mean_score", "n_submitted", "share_missed"):
        mu = grp[c].transform("mean")
        sd = grp[c].transform("std").replace(0, np.nan)
        df[f"{c}_rel"] = ((df[c] - mu) / sd).fillna(0)
    df["has_score"] = df["weighted_score"].notna().astype(int)
    df["day_share"] = day / df["module_presentation_length"].clip(lower=1)
    df = _activity_features(df, t, ass, known, day)
    df["y"] = df["final_result"].isin(["Withdrawn", "Fail"]).astype(int)
    return df.reset_index(drop=True)


def _graded(sa: pd.DataFrame) -> pd.Series:
    """Per assessment: True when its scores so far are grades, False for completion checks (nearly all 0/1/100)."""
    s = sa.dropna(subset=["score"])
    completion = s["score"].isin([0, 1, 100]).groupby(s["id_assessment"]).mean() > 0.9
    return ~completion


def _activity_features(df: pd.DataFrame, t: dict[str, pd.DataFrame], ass: pd.DataFrame, known: pd.DataFrame,
                       day: int) -> pd.DataFrame:
    """Recency, streaks, early work, per-assessment standing and cohort context, all as of ``day``.

    Zero-weight assessments whose scores are real grades (FFF and GGG quizzes and TMAs) count for
    standing; completion checks never do. Cohort context (share of the presentation already
    unregistered by ``day``) is known on ``day`` and carries presentation-level shifts.
    """
    pkey = ["code_module", "code_presentation"]
    graded = _graded(known)  # from scores known by day D only: later scores must not decide it
    own = known[known["is_banked"].fillna(0) == 0]
    g = own.groupby(KEY)
    rec = pd.DataFrame({"last_submit_day": g["date_submitted"].max(),
                        "n_early_future": own[own["date"] > day].groupby(KEY).size()}).reset_index()
    df = df.merge(rec, on=KEY, how="left")
    df["days_since_last_submit"] = day - df["last_submit_day"].fillna(df["date_registration"].fillna(0).clip(upper=0))
    df["n_early_future"] = df["n_early_future"].fillna(0)
    # per-assessment standing among the students who had a score for it by day D
    sc = known[known["score"].notna() & known["id_assessment"].map(graded).fillna(False).astype(bool)].copy()
    ga = sc.groupby("id_assessment")["score"]
    sc["z"] = ((sc["score"] - ga.transform("mean")) / ga.transform("std").replace(0, np.nan)).fillna(0)
    sc["pct"] = ga.rank(pct=True)
    st = sc.groupby(KEY).agg(score_z=("z", "mean"), score_pct=("pct", "mean"), score_z_min=("z", "min"),
                             all_score=("score", "mean"), n_fail40=("score", lambda s: float((s < 40).sum())))
    last = sc.sort_values("date_submitted").groupby(KEY)["z"].last().rename("last_z")
    df = df.merge(st.join(last).reset_index(), on=KEY, how="left")
    df["n_fail40"] = df["n_fail40"].fillna(0)
    # streak of missed deadlines, most recent first, and whether the last deadline was met
    due = ass[(ass["date"] <= day) & (ass["assessment_type"] != "Exam")].sort_values("date")
    done = set(zip(known["id_student"], known["id_assessment"], strict=True))
    rows = []
    for (mod, pres), dd in due.groupby(pkey):
        ids = dd["id_assessment"].tolist()
        wts = dd["weight"].to_numpy(float)
        for sid in df.loc[(df["code_module"] == mod) & (df["code_presentation"] == pres), "id_student"]:
            hit = [(sid, a) in done for a in ids]
            streak = 0
            for h in reversed(hit):
                if h:
                    break
                streak += 1
            rows.append((mod, pres, sid, streak, int(hit[-1]), float(np.dot(hit, wts))))
    miss = pd.DataFrame(rows, columns=[*KEY, "missed_streak", "last_due_done", "weight_due_done"]).astype(
        {"id_student": "Int64", "missed_streak": float, "last_due_done": float, "weight_due_done": float})
    df = df.merge(miss, on=KEY, how="left")
    df["missed_streak"] = df["missed_streak"].fillna(0).astype(float)
    df["last_due_done"] = df["last_due_done"].fillna(1).astype(float)
    sw = (known[known["id_assessment"].isin(set(due["id_assessment"])) & (known["weight"] > 0)]
          .assign(ws=lambda x: x["score"].fillna(0) * x["weight"]).groupby(KEY)["ws"].sum().rename("ws_due"))
    df = df.merge(sw.reset_index(), on=KEY, how="left")
    df["score_to_date"] = np.where(df["due_weight"] > 0, df["ws_due"].fillna(0) / df["due_weight"].clip(lower=1e-9),
                                   np.nan)
    last_due = due.groupby(pkey)["date"].max().rename("last_due_day").reset_index()
    df = df.merge(last_due, on=pkey, how="left")
    df["days_since_last_due"] = day - df["last_due_day"]
    df["reg_after_start"] = (df["date_registration"].fillna(0) > 0).astype(int)
    # cohort context on day D (registrations, not outcomes)
    reg = t["studentRegistration"]
    gone = reg["date_unregistration"].notna() & (reg["date_unregistration"] <= day)
    share = gone.groupby([reg["code_module"], reg["code_presentation"]]).mean().rename("cohort_gone_share")
    df = df.merge(share.reset_index(), on=pkey, how="left")
    df["cohort_missed_share"] = df.groupby(pkey)["share_missed"].transform("mean")
    for c in ("days_since_last_submit", "n_early_future", "all_score"):
        grp = df.groupby(pkey)[c]
        df[f"{c}_rel"] = ((df[c] - grp.transform("mean")) / grp.transform("std").replace(0, np.nan)).fillna(0)
    for c in RANKED:  # standing within the module presentation: transfers across modules and years
        df[f"{c}_rank"] = df.groupby(pkey)[c].rank(pct=True)
    return df


FEATURES = [
    "num_of_prev_attempts", "studied_credits", "reg_days_before_start", "n_due", "n_submitted",
    "n_submitted_due", "n_missed", "share_missed", "n_late", "mean_late_days", "n_banked", "mean_submit_margin",
    "weighted_score", "mean_score", "min_score", "last_score", "tma_score", "cma_score", "score_slope",
    "weight_done", "due_weight", "weight_missing", "weighted_score_rel", "mean_score_rel", "n_submitted_rel",
    "share_missed_rel", "has_score", "day_share", "module_presentation_length",
]
RANKED = ("score_to_date", "missed_streak", "weight_due_done", "score_z", "n_late", "mean_submit_margin")
NEW_FEATURES = [
    "days_since_last_submit", "n_early_future", "score_z", "score_pct", "score_z_min", "all_score", "n_fail40",
    "last_z", "missed_streak", "last_due_done", "weight_due_done", "score_to_date", "days_since_last_due",
    "reg_after_start", "cohort_gone_share", "cohort_missed_share", "days_since_last_submit_rel",
    "n_early_future_rel", "all_score_rel", *(f"{c}_rank" for c in RANKED),
]
