"""Class-level engagement warnings: a sustained drop of a section's attention or participation, or rising
negative tone, against the section's own baseline.

Reads only the anonymous class-level ``aggregates`` (k-anonymous windows tagged with their section);
nothing here concerns an individual student. "Sustained" means every one of the last N class days
(days with windows) is past the cut-off, not just their mean, so one bad lesson does not fire.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import fmean
from typing import TYPE_CHECKING, Any

from classpulse_contract.participation import measured_participation
from cloud_aggregator.config.warnings import ClassRules, Tiers
from cloud_aggregator.store.class_signals import section_tone_windows, section_windows

if TYPE_CHECKING:
    from cloud_aggregator.store import Store

METRICS = {"class_attention": "attention_share", "class_participation": "participation", "class_tone": "negative_tone"}


@dataclass(frozen=True)
class ClassFinding:
    section: str
    type: str  # class_attention | class_participation | class_tone
    level: int
    recent: float  # mean over the recent class days
    baseline: float  # mean over the baseline class days
    recent_days: tuple[str, ...]
    baseline_days: int
    worst: float  # the mildest recent-day change (what made it "sustained")

    def reasons(self) -> list[dict[str, Any]]:
        pct = {"recent": round(self.recent * 100), "usual": round(self.baseline * 100), "days": len(self.recent_days),
               "baseline_days": self.baseline_days}
        if self.type == "class_tone":
            return [{"key": "reason.class_tone", "params": {**pct, "rise": round(self.worst * 100)}}]
        return [{"key": f"reason.{self.type}", "params": {**pct, "drop": round(self.worst * 100)}}]


def detect(series: list[tuple[str, float]], rules: ClassRules, tiers: Tiers, rise: bool
           ) -> tuple[int, float, float, float, list[str], int] | None:
    """Pure: (level, recent mean, baseline mean, mildest change, recent days, baseline n) or None.

    ``series`` is one value per class day, in day order. Drops are relative to the baseline
    (1 − value/baseline); rises (negative tone) are absolute differences of shares.
    """
    if len(series) < rules.recent_days + rules.min_baseline_days:
        return None
    recent = series[-rules.recent_days:]
    base = series[-rules.recent_days - rules.baseline_days:-rules.recent_days]
    if len(base) < rules.min_baseline_days:
        return None
    b = fmean(v for _, v in base)
    if not rise and b < rules.min_baseline:
        return None
    changes = [(v - b) if rise else (1.0 - v / b) for _, v in recent]
    mildest = min(changes)
    level = tiers.level(mildest)
    if not level:
        return None
    return level, fmean(v for _, v in recent), b, mildest, [d for d, _ in recent], len(base)


def _dt(x: str) -> datetime:
    return datetime.fromisoformat(str(x).replace("Z", "+00:00"))


def daily_series(store: Store, since: str) -> dict[str, dict[str, list[tuple[str, float]]]]:
    """section → metric → [(day, daily mean)], from windows starting on or after ``since``."""
    acc: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in section_windows(store, since):
        key = (r["section_id"], str(r["window_start"])[:10])
        if r["attention_share"] is not None:
            acc[key]["attention_share"].append(float(r["attention_share"]))
        span = (_dt(r["window_end"]) - _dt(r["window_start"])).total_seconds()
        part = measured_participation(r["hand_raises"], r["n_faces"], span)  # null: not measured, no 0
        if part is not None:
            acc[key]["participation"].append(part)
    # tone only exists under policy "full"; negative = tone valence below zero in that window
    for r in section_tone_windows(store, since):
        try:
            val = json.loads(r["payload"]).get("tone_valence")
        except (TypeError, ValueError):
            continue
        if val is not None:
            acc[(r["section_id"], str(r["window_start"])[:10])]["negative_tone"].append(1.0 if val < 0 else 0.0)
    out: dict[str, dict[str, list[tuple[str, float]]]] = defaultdict(lambda: defaultdict(list))
    for (sec, day), metrics in sorted(acc.items()):
        for m, vals in metrics.items():
            if vals:
                out[sec][m].append((day, fmean(vals)))
    return out


def class_findings(store: Store, rules: ClassRules, now: datetime) -> list[ClassFinding]:
    if not rules.enabled:
        return []
    since = (now - timedelta(days=rules.lookback_days)).date().isoformat()
    out = []
    for sec, metrics in daily_series(store, since).items():
        for wtype, metric in METRICS.items():
            rise = wtype == "class_tone"
            hit = detect(metrics.get(metric, []), rules, rules.tone_rise if rise else rules.drop, rise)
            if hit:
                level, recent, base, mildest, days, nb = hit
                out.append(ClassFinding(sec, wtype, level, recent, base, tuple(days), nb, mildest))
    return out
