"""Benchmark: the whole warnings loop on the full OULAD data, as of day 60 of 2014B, measured against final_result.

Run from the repository root: OMP_NUM_THREADS=1 python bench/warnings_oulad_e2e.py --data ../shared/data/oulad
Imports OULAD into a store with the generated staff roster (cloud_aggregator/records/oulad_staff.py: a tutor
per module presentation, one counsellor — invented, OULAD has no staff), hides 2014B's final results from the
store (kept aside for the measurement), trains the risk model on the earlier presentations' outcomes
(2013B, 2013J: a previous-year model), then runs ``warnings run`` as of day 60 of 2014B (2014-04-02) with
e-mail delivery to a local aiosmtpd. Measured on the 2014B students still registered on day 60: how many got a
warning at each level, and the at-risk rate (Withdrawn or Fail) per level vs the unwarned — for the run as a
whole (highest level of any warning), the risk model alone and the transparent rules alone (the baseline, same
run). Then a placebo check of the intervention loop: ``--placebo N`` red students get a recorded
intervention (none took place — it is OULAD) with an outcome, and a run 30 days on computes the effect; the
difference to comparable students should be about 0. Prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cloud_aggregator.config.store import StoreConfig  # noqa: E402
from cloud_aggregator.config.warnings import WarningsConfig  # noqa: E402
from cloud_aggregator.records import import_records  # noqa: E402
from cloud_aggregator.records.keys import RecordsKeys  # noqa: E402
from cloud_aggregator.records.oulad import day_to_date  # noqa: E402
from cloud_aggregator.records.oulad_staff import write_staff_roster  # noqa: E402
from cloud_aggregator.store import (
    db,  # noqa: E402
    open_store,  # noqa: E402
)
from cloud_aggregator.warnings import engine, risk  # noqa: E402

AT_RISK = ("fail", "withdrawn")
RULE_TYPES = ("academic", "submissions", "attendance", "lms")


class _Smtp:
    """aiosmtpd on a free port, counting what arrives (the real delivery path, nothing kept)."""

    def __enter__(self) -> _Smtp:
        import socket

        from aiosmtpd.controller import Controller

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.n = 0
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: ANN401, N802
                sink.n += 1
                return "250 OK"

        self.ctrl = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.ctrl.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.ctrl.stop()


def config(tmp: Path, smtp_port: int, kind: str) -> WarningsConfig:
    """The OULAD config (docs/warnings.md): no attendance/LMS/aggregates, risk level 1 to the tutor too."""
    return WarningsConfig.model_validate({
        "schedule": "off", "freshness": {"not_collected": ["attendance", "lms", "aggregates"]},
        "risk": {"kind": kind, "model_dir": str(tmp / "models"), "drift": {"on_drift": "recommend"}},
        "routing": [{"types": ["academic", "submissions"], "min_level": 1, "roles": ["teacher"]},
                    {"types": ["risk"], "min_level": 1, "roles": ["teacher"]},
                    {"types": ["risk"], "min_level": 2, "roles": ["advisor"]},
                    {"types": [], "min_level": 3, "roles": ["counsellor"]}],
        "delivery": {"email": {"host": "127.0.0.1", "port": smtp_port, "sender": "warnings@oulad.example"},
                     "channels": {"teacher": ["email"], "advisor": ["email"], "counsellor": ["email"]},
                     "language": "en"}})


def per_level(levels: dict[str, int], y: dict[str, int]) -> dict[str, Any]:
    """Students and at-risk rate at each level (0 = not warned), and the share of at-risk students caught at ≥ k."""
    out: dict[str, Any] = {}
    pos = sum(y.values())
    for lv in (0, 1, 2, 3):
        ps = [p for p in y if levels.get(p, 0) == lv]
        out[str(lv)] = {"n": len(ps), "at_risk_rate": round(sum(y[p] for p in ps) / len(ps), 3) if ps else None}
    for k in (1, 2, 3):
        ps = [p for p in y if levels.get(p, 0) >= k]
        out[f"ge{k}"] = {"n": len(ps), "at_risk_rate": round(sum(y[p] for p in ps) / len(ps), 3) if ps else None,
                         "recall": round(sum(y[p] for p in ps) / pos, 3) if pos else None}
    return out


def _levels(store: Any, types: tuple[str, ...] | None, run_id: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in db.query(store, "SELECT subject, type, level FROM warning_log WHERE scope = 'student' AND last_run = ?",
                      (run_id,)):
        if types is None or r["type"] in types:
            out[r["subject"]] = max(out.get(r["subject"], 0), int(r["level"]))
    return out


def main() -> int:  # noqa: PLR0915
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("../shared/data/oulad"))
    ap.add_argument("--presentation", default="2014B", help="scored and measured; its outcomes are hidden")
    ap.add_argument("--day", type=int, default=60)
    ap.add_argument("--kind", default="lightgbm", choices=("auto", "lightgbm", "logistic"))
    ap.add_argument("--placebo", type=int, default=50, help="red students given a recorded (not real) intervention")
    args = ap.parse_args()
    pres, as_of = args.presentation, day_to_date(args.presentation, args.day)
    now = datetime.fromisoformat(as_of + "T12:00:00+00:00")
    later = datetime.fromisoformat(day_to_date(pres, args.day + 30) + "T12:00:00+00:00")
    out: dict[str, Any] = {"as_of": as_of, "presentation": pres, "day": args.day}
    with tempfile.TemporaryDirectory() as tmp_, _Smtp() as smtp:
        tmp = Path(tmp_)
        keys = RecordsKeys(b"bench-risk-key-0" * 2)
        store = open_store(StoreConfig(path=tmp / "o.db"))
        t0 = time.perf_counter()
        rep = import_records(store, args.data, "oulad", keys=keys, progress=False)
        staff = import_records(store, write_staff_roster(args.data, tmp / "staff"), "oneroster", keys=keys,
                               progress=False)
        out["import_s"] = round(time.perf_counter() - t0, 1)
        out["import_errors"] = rep.errors + staff.errors + [r.reason for r in staff.rejected][:5]
        out["missing_submissions_derived"] = rep.files["(derived) missing submissions"].rows
        # 2014B's outcomes are what we measure against: out of the store before training
        hidden = db.query(store, "SELECT student_pseudonym AS p, outcome FROM student_outcomes WHERE term_sourced_id "
                                 "LIKE ?", (f"%-{pres}",))
        y: dict[str, int] = {}
        for r in hidden:
            y[r["p"]] = max(y.get(r["p"], 0), int(r["outcome"] in AT_RISK))
        db.write(store, "DELETE FROM student_outcomes WHERE term_sourced_id LIKE ?", (f"%-{pres}",))
        cfg = config(tmp, smtp.port, args.kind)
        t0 = time.perf_counter()
        m = risk.train(store, cfg, now, trigger="bench")
        out["train_s"] = round(time.perf_counter() - t0, 1)
        out["model"] = {"kind": m["kind"], "n_students": m["n_students"], "n_rows": m["n_rows"],
                        "window": [m["window_start"], m["window_end"]], "pooled_heldout_auc": m["metrics"]["auc"],
                        "pooled_heldout_rules_auc": m["metrics"]["rules_auc"],
                        "last_full_date": {k: m["metrics"][k] for k in ("last_date", "n_last_date", "auc_last_date",
                                                                        "rules_auc_last_date")}}
        t0 = time.perf_counter()
        run = engine.run(store, cfg, keys, now=now, trigger="bench")
        out["run_s"] = round(time.perf_counter() - t0, 1)
        c = run["counts"]
        out["run"] = {k: c.get(k) for k in ("students", "new", "by_level", "by_type", "deliveries_queued", "delivered",
                                             "no_recipient", "drift")} | {"stale_sources": run["stale_sources"],
                                                                           "mails_received": smtp.n}
        if c.get("drift"):
            psi = json.loads(db.query(store, "SELECT psi FROM risk_drift ORDER BY ts DESC LIMIT 1")[0]["psi"])
            out["run"]["drift"]["top_features"] = dict(sorted(psi.items(), key=lambda kv: -kv[1])[:3])
        # measured: this presentation's students the run scored (registered on day D)
        current = {r["p"] for r in db.query(store, "SELECT DISTINCT e.user_pseudonym AS p FROM enrollments e WHERE "
                                                   "e.role = 'student' AND e.section_sourced_id LIKE ? AND "
                                                   "(e.end_date IS NULL OR e.end_date >= ?)", (f"%-{pres}", as_of))}
        ym = {p: v for p, v in y.items() if p in current}
        out["measured"] = {"n": len(ym), "base_rate": round(sum(ym.values()) / len(ym), 3)}
        out["whole_run"] = per_level(_levels(store, None, run["run_id"]), ym)
        out["risk_model_only"] = per_level(_levels(store, ("risk",), run["run_id"]), ym)
        out["rules_only_baseline"] = per_level(_levels(store, RULE_TYPES, run["run_id"]), ym)

        # the same number of students as the rules warn, taken by the model's score: precision/recall at equal size
        scores = {r["subject"]: json.loads(r["reasons"])[0]["params"]["score"] for r in db.query(
            store, "SELECT subject, reasons FROM warning_log WHERE type = 'risk' AND last_run = ?", (run["run_id"],))
            if r["subject"] in ym}
        n_rules = out["rules_only_baseline"]["ge1"]["n"]
        top = sorted(scores, key=lambda p: (-scores[p], p))[:n_rules]
        pos = sum(ym.values())
        out["risk_model_top_n_as_rules"] = {"n": len(top), "at_risk_rate": round(sum(ym[p] for p in top) / len(top), 3),
                                            "recall": round(sum(ym[p] for p in top) / pos, 3)} if top else None
        # placebo interventions on red risk warnings of measured students, outcome recorded, effect 30 days on
        reds = sorted(r["subject"] for r in db.query(store, "SELECT subject FROM warning_log WHERE type = 'risk' AND "
                                                            "level = 3 AND last_run = ?", (run["run_id"],))
                      if r["subject"] in ym)
        picked = random.Random(0).sample(reds, min(args.placebo, len(reds)))
        for p in picked:
            db.write(store, "INSERT INTO interventions (id, student_pseudonym, warning_id, by_user, created_at, kind, "
                            "note_enc, outcome, outcome_note_enc, outcome_at) VALUES (?, ?, NULL, ?, ?, ?, NULL, ?, "
                            "NULL, ?)", (db.new_id(), p, "bench", as_of + "T12:00:00Z", "meeting", "no_change",
                                         as_of + "T13:00:00Z"))
        t0 = time.perf_counter()
        run2 = engine.run(store, cfg, keys, now=later, trigger="bench")
        out["later_run_s"] = round(time.perf_counter() - t0, 1)
        out["placebo"] = {"n": len(picked), "effects_computed": run2["counts"].get("effects_computed"),
                          "by_kind": risk.effect_summary(store)}
        store.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
