"""Retention: roll raw aggregates up into session and week summaries, then delete raw rows past N days.

Raw rows are deleted only up to the start of the ISO week (Monday 00:00 UTC) that contains
``now - retention_days``, and every week about to lose rows is rolled up first; so a week summary is
always computed from complete data and never recomputed from a partial week. Summaries keep no
per-window detail and, like aggregates, nothing about any individual.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from cloud_aggregator.store import Store, iso, now_iso
from cloud_aggregator.store import retention as store_retention
from cloud_aggregator.timetable import parse_session_id

FIELDS = ("attention_share", "engagement", "speech_share", "n_faces")


def week_floor(dt: datetime) -> datetime:
    d = dt.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return d - timedelta(days=d.weekday())


def iso_week(ts: str) -> str:
    y, w, _ = datetime.fromisoformat(ts.replace("Z", "+00:00")).isocalendar()
    return f"{y}-W{w:02d}"


def _mean(xs: list[float]) -> float | None:
    xs = [x for x in xs if x is not None]
    return round(sum(xs) / len(xs), 4) if xs else None


def summarise(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Pure: raw aggregate rows → (session summaries, week summaries)."""
    now = now_iso()
    sessions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    weeks: dict[tuple[str, str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r.get("session_id"):
            sessions[r["session_id"]].append(r)
        weeks[(r["site"], r["room"], r.get("section_id") or "", iso_week(r["window_start"]))].append(r)
    out_s = []
    for sid, rs in sessions.items():
        section, date, period = parse_session_id(sid)
        out_s.append({"session_id": sid, "section_id": section, "site": rs[0]["site"], "room": rs[0]["room"],
                      "date": date, "period": period, "start_utc": min(r["window_start"] for r in rs),
                      "end_utc": max(r["window_end"] for r in rs), "n_windows": len(rs),
                      "attention_mean": _mean([r["attention_share"] for r in rs]),
                      "engagement_mean": _mean([r["engagement"] for r in rs]),
                      "speech_mean": _mean([r["speech_share"] for r in rs]),
                      "hand_raises": sum(int(r["hand_raises"] or 0) for r in rs),
                      "n_faces_mean": _mean([r["n_faces"] for r in rs]), "updated_at": now})
    out_w = []
    for (site, room, section, week), rs in weeks.items():
        out_w.append({"site": site, "room": room, "section_id": section, "week": week, "n_windows": len(rs),
                      "n_sessions": len({r["session_id"] for r in rs if r.get("session_id")}),
                      "attention_mean": _mean([r["attention_share"] for r in rs]),
                      "engagement_mean": _mean([r["engagement"] for r in rs]),
                      "speech_mean": _mean([r["speech_share"] for r in rs]),
                      "hand_raises": sum(int(r["hand_raises"] or 0) for r in rs), "updated_at": now})
    return out_s, out_w


def rollup(store: Store, start: datetime, end: datetime) -> tuple[int, int]:
    """Recompute summaries of every week in [week_floor(start), end). Returns (sessions, weeks) written."""
    s, w = summarise(store_retention.windows_between(store, iso(week_floor(start)), iso(end)))
    store_retention.save_summaries(store, s, w)
    return len(s), len(w)


@dataclass
class RetentionReport:
    cutoff: str
    deleted: int
    sessions: int
    weeks: int
    warnings: dict[str, int] = field(default_factory=dict)


#: warnings bookkeeping: table → its days in the config (pending deliveries stay whatever their age)
WARNING_RETENTION = {"warning_runs": "runs_days", "warning_deliveries": "deliveries_days",
                     "warning_escalations": "escalations_days", "risk_drift": "drift_days"}


def prune_warnings(store: Store, days: Any, now: datetime) -> dict[str, int]:  # noqa: ANN401 - warnings Retention
    """Delete warning runs, finished deliveries, escalations and drift checks older than their configured days."""
    cutoffs = {table: iso(now - timedelta(days=getattr(days, key))) for table, key in WARNING_RETENTION.items()}
    return store_retention.prune_warning_rows(store, cutoffs)


def run_retention(store: Store, retention_days: int, now: datetime | None = None,
                  warnings: Any = None) -> RetentionReport:  # noqa: ANN401 - warnings.config.Retention
    """Roll up and delete raw aggregates; with ``warnings`` (its ``retention`` days) prune the warnings tables too."""
    now = now or datetime.now(timezone.utc)
    cutoff = week_floor(now - timedelta(days=retention_days))
    earliest = store_retention.earliest_window(store)
    n_s = n_w = 0
    if earliest and earliest < iso(cutoff):
        a, b = rollup(store, datetime.fromisoformat(earliest.replace("Z", "+00:00")), cutoff)
        n_s, n_w = n_s + a, n_w + b
    deleted = store_retention.delete_windows_before(store, iso(cutoff))
    a, b = rollup(store, now - timedelta(days=8), now + timedelta(days=7))
    pruned = prune_warnings(store, warnings, now) if warnings is not None else {}
    return RetentionReport(iso(cutoff), deleted, n_s + a, n_w + b, pruned)


def main(args: argparse.Namespace) -> int:
    """``cloud-aggregator retention [--config FILE] [--days N]``: roll up, then delete old raw aggregates;
    prune the warnings tables per ``warnings.retention``."""
    from cloud_aggregator.config import load_aggregator_config
    from cloud_aggregator.store import open_store

    cfg = load_aggregator_config(getattr(args, "config", None))
    store = open_store(cfg.store)
    try:
        from cloud_aggregator.config.warnings import warnings_config

        rep = run_retention(store, getattr(args, "days", None) or cfg.retention_days,
                            warnings=warnings_config(cfg).retention)
    finally:
        store.close()
    print(json.dumps(rep.__dict__))
    return 0
