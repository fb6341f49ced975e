"""Benchmark: records import throughput on the demo school, against a plain csv.reader pass.

Run: OMP_NUM_THREADS=1 python bench/records_import.py [--students 300] [--weeks 12] [--postgres]
Prints one JSON object on its last line. The baseline (csv.reader over the same files, no
validation, no database) is measured in the same run, so the ratios compare across machines.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

from cloud_aggregator.records import import_records
from cloud_aggregator.records.demo_school import DemoSpec, write_demo_school
from cloud_aggregator.records.keys import RecordsKeys


def _baseline(folder: Path) -> tuple[int, float]:
    t0 = time.perf_counter()
    n = 0
    files = [p for sub in ("oneroster", "attendance", "submissions", "lms") for p in sorted((folder / sub).glob("*.csv"))]
    for p in [*files, folder / "timetable.csv"]:
        if p.name == "manifest.csv":
            continue
        with p.open(encoding="utf-8", newline="") as fh:
            n += sum(1 for _ in csv.reader(fh)) - 1
    return n, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=300)
    ap.add_argument("--weeks", type=int, default=12)
    ap.add_argument("--postgres", action="store_true", help="also import into a throwaway PostgreSQL database")
    args = ap.parse_args()
    keys = RecordsKeys(b"b" * 32)
    out: dict[str, object] = {"bench": "records_import", "students": args.students, "weeks": args.weeks}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        demo = write_demo_school(Path(tmp) / "demo", DemoSpec(seed=7, students=args.students, weeks=args.weeks))
        out["generate_s"] = round(time.perf_counter() - t0, 2)
        rows, base = _baseline(demo)
        out["rows"] = rows
        out["baseline_csv_reader_s"] = round(base, 3)
        db = Path(tmp) / "r.db"
        t0 = time.perf_counter()
        rep = import_records(db, demo, "all", keys=keys, progress=False)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        rep2 = import_records(db, demo, "all", keys=keys, progress=False)
        second = time.perf_counter() - t0
        assert rep.ok and rep2.total("unchanged") == rep.total("inserted"), rep.summary()
        out.update(sqlite_import_s=round(first, 2), sqlite_reimport_s=round(second, 2),
                   sqlite_rows_per_s=round(rows / first), sqlite_ratio_to_baseline=round(first / base, 1))
        if args.postgres:
            import psycopg

            name = f"records_bench_{uuid.uuid4().hex[:8]}"
            admin = "postgresql://postgres@127.0.0.1:5432/postgres"
            with psycopg.connect(admin, autocommit=True) as c:
                c.execute(f"CREATE DATABASE {name}")
            try:
                dsn = f"postgresql://postgres@127.0.0.1:5432/{name}"
                t0 = time.perf_counter()
                import_records(dsn, demo, "all", keys=keys, progress=False)
                pg = time.perf_counter() - t0
                out.update(postgres_import_s=round(pg, 2), postgres_rows_per_s=round(rows / pg),
                           postgres_ratio_to_baseline=round(pg / base, 1))
            finally:
                with psycopg.connect(admin, autocommit=True) as c:
                    c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    print(json.dumps(out), file=sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
