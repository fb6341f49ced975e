"""Benchmark: a warnings run on the demo school — time, counts, deliveries, and agreement with the ground truth.

Run from the repository root: python bench/warnings_demo.py [--students 300] [--weeks 12]
Generates and imports the demo school in a temporary folder, scores it as of the day after its last
attendance record (records fresh), delivers by e-mail to a local aiosmtpd server and by webhook to a
local http.server, then escalates everything after 49 h. The demo school's ``_truth/students.csv``
says which students drift into difficulty; "flagged" = any student warning at or above the level.
Baseline in the same run: flag everyone whose term attendance is below the school median (a naive rule).
Prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cloud_aggregator.config.store import StoreConfig  # noqa: E402
from cloud_aggregator.config.warnings import WarningsConfig  # noqa: E402
from cloud_aggregator.records import import_records  # noqa: E402
from cloud_aggregator.records.demo_school import DemoSpec, write_demo_school  # noqa: E402
from cloud_aggregator.records.keys import ensure_key_file  # noqa: E402
from cloud_aggregator.store import (
    db,  # noqa: E402
    open_store,  # noqa: E402
)
from cloud_aggregator.warnings import engine  # noqa: E402
from tests._warnings_helpers import SmtpSink, WebhookSink  # noqa: E402


def _share(flagged: set[str], group: set[str]) -> float:
    return round(len(flagged & group) / len(group), 3) if group else 0.0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=300)
    ap.add_argument("--weeks", type=int, default=12)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        school = write_demo_school(base / "school", DemoSpec(students=args.students, weeks=args.weeks))
        keys = ensure_key_file(base / "records.key")
        store = open_store(StoreConfig(path=base / "w.db"))
        import_records(store, school, "all", keys=keys, progress=False)
        last = db.query(store, "SELECT MAX(date) AS d FROM attendance")[0]["d"]
        now = datetime.fromisoformat(last + "T12:00:00+00:00") + timedelta(days=1)
        (base / "hook.secret").write_bytes(b"bench-secret-" * 3)
        with SmtpSink() as smtp, WebhookSink() as hooks:
            cfg = WarningsConfig.model_validate({"schedule": "off", "delivery": {
                "email": {"host": "127.0.0.1", "port": smtp.port, "sender": "warnings@school.example"},
                "webhook": {"url": hooks.url, "secret_file": str(base / "hook.secret")}}})
            t0 = time.perf_counter()
            res = engine.run(store, cfg, keys, now=now)
            run_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            again = engine.run(store, cfg, keys, now=now)
            rerun_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            tick = engine.tick(store, cfg, keys, now=now + timedelta(hours=49))
            tick_s = time.perf_counter() - t0
            mails, posts = len(smtp.mails), len(hooks.hooks)
        truth = list(csv.DictReader((school / "_truth" / "students.csv").open(encoding="utf-8")))
        scored = set(engine.analysable(store))
        drift = {keys.pseudonym(r["studentSourcedId"]) for r in truth if r["drifting"] == "1"} & scored
        steady = {keys.pseudonym(r["studentSourcedId"]) for r in truth if r["drifting"] == "0"} & scored
        out: dict = {"students": len(scored), "drifting": len(drift), "run_s": round(run_s, 3),
                     "rerun_s": round(rerun_s, 3), "rerun_new": again["counts"]["new"], "escalation_tick_s": round(tick_s, 3),
                     "warnings": res["counts"]["warnings"], "by_level": res["counts"]["by_level"],
                     "by_type": res["counts"]["by_type"], "deliveries": res["counts"]["delivered"],
                     "mails": mails, "webhooks": posts, "escalated": tick["escalated"], "flagged": {}}
        for lv in (1, 2, 3):
            flagged = {r["subject"] for r in db.query(store, "SELECT subject FROM warning_log WHERE scope = 'student' "
                                                             "AND level >= ?", (lv,))}
            out["flagged"][f"level>={lv}"] = {"drifting": _share(flagged, drift), "steady": _share(flagged, steady)}
        att = db.query(store, "SELECT student_pseudonym AS p, AVG(CASE WHEN status = 'absent' THEN 0.0 ELSE 1.0 END) "
                              "AS r FROM attendance WHERE status <> 'excused' GROUP BY student_pseudonym")
        rates = sorted(float(r["r"]) for r in att if r["p"] in scored)
        med = rates[len(rates) // 2]
        naive = {r["p"] for r in att if r["p"] in scored and float(r["r"]) < med}
        out["baseline_below_median_attendance"] = {"drifting": _share(naive, drift), "steady": _share(naive, steady)}
        store.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
