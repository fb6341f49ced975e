"""Entry points for the CLI: ``import_records`` and ``generate_demo_school``.

``python -m cloud_aggregator.records import KIND DIR --db PATH_OR_DSN`` works before the CLI
is wired (see ``main``); the lead's CLI can reuse ``add_import_arguments``/``run_import`` and
``add_demo_arguments``/``run_demo_school``.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloud_aggregator.config.records import RecordsConfig
from cloud_aggregator.store.engine import RecordsDB

from .engine import finish, new_context, now_utc
from .keys import RecordsKeyError, RecordsKeys, load_keys
from .report import ImportReport

if TYPE_CHECKING:
    from cloud_aggregator.store import Store

KINDS = ("oneroster", "attendance", "submissions", "lms", "outcomes", "oulad", "timetable", "all")


def import_records(store_or_db: Any, folder: str | Path, kind: str, *, keys: RecordsKeys | None = None,
                   config: RecordsConfig | None = None, progress: bool = True) -> ImportReport:
    """Import ``folder`` (or one file) of ``kind`` into the records tables and return the report.

    ``kind='all'`` imports a demo-school layout: oneroster/, attendance/, submissions/, lms/, timetable.csv
    and, when present, outcomes/.
    ``keys`` default to :func:`load_keys` (env var or ``config.key_file``). Whole-file problems are in
    ``report.errors``; rejected rows in ``report.rejected``; nothing raises for bad input.
    """
    from .attendance import import_attendance
    from .lms import import_lms
    from .oneroster import import_oneroster
    from .oulad import import_oulad
    from .outcomes import import_outcomes
    from .submissions import import_submissions
    from .timetable import import_timetable

    if kind not in KINDS:
        raise ValueError(f"unknown import kind {kind!r}; one of {', '.join(KINDS)}")
    cfg = config or RecordsConfig()
    keys = keys or load_keys(cfg)
    path = Path(folder)
    db = RecordsDB.open(store_or_db)
    opened_here = isinstance(store_or_db, (str, Path))  # a store's or caller's connection stays open
    try:
        started = now_utc()
        ctx = new_context(db, keys, kind, str(path), progress=progress,
                          max_bytes=cfg.max_file_mb * 1024 * 1024, max_rows=cfg.max_rows)
        importers = {"oneroster": import_oneroster, "attendance": import_attendance,
                     "submissions": import_submissions, "lms": import_lms, "outcomes": import_outcomes,
                     "oulad": import_oulad, "timetable": import_timetable}
        if not path.exists():
            ctx.report.errors.append(f"{path}: does not exist")
        elif kind != "all":
            importers[kind](ctx, path)
        else:
            for sub in ("oneroster", "attendance", "submissions", "lms"):
                if (path / sub).exists():
                    importers[sub](ctx, path / sub)
                    ctx.cache.clear()
                else:
                    ctx.report.warnings.append(f"{path / sub}: not present, skipped")
            if (path / "timetable.csv").exists():
                import_timetable(ctx, path / "timetable.csv")
            if (path / "outcomes").exists():  # optional: known outcomes, the risk model's label
                import_outcomes(ctx, path / "outcomes")
        return finish(ctx, started)
    finally:
        if opened_here:
            db.close()


def generate_demo_school(out_dir: str | Path, seed: int = 7, **kwargs: Any) -> Path:
    """Write a synthetic school (see demo_school.DemoSpec) into ``out_dir``; returns ``out_dir``."""
    from .demo_school import DemoSpec, write_demo_school

    return write_demo_school(Path(out_dir), DemoSpec(seed=seed, **kwargs))


def add_import_arguments(p: argparse.ArgumentParser, *, with_db: bool = True) -> None:
    """Arguments of ``import KIND DIR`` (the lead's CLI may pass the store instead of ``--db``)."""
    p.add_argument("kind", choices=KINDS)
    p.add_argument("dir", type=Path)
    if with_db:
        p.add_argument("--db", required=True, help="SQLite path or postgresql:// DSN")
    p.add_argument("--key-file", help="records key file (else CLASSPULSE_RECORDS_KEY[_FILE])")
    p.add_argument("--rejects", type=Path, help="write rejected rows to this CSV")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")


def add_demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--students", type=int, default=300)
    p.add_argument("--weeks", type=int, default=12)
    p.add_argument("--start", type=date.fromisoformat, default=None,
                   help="first day of term, YYYY-MM-DD (moved back to its Monday; default 2025-09-01)")


def run_import(args: argparse.Namespace, store: Store | None = None, config: RecordsConfig | None = None) -> int:
    """``import KIND DIR``: print the report; exit code per :func:`exit_code`."""
    cfg = config or RecordsConfig()
    if getattr(args, "key_file", None):
        cfg = cfg.model_copy(update={"key_file": args.key_file})
    try:
        rep = import_records(store if store is not None else args.db, args.dir, args.kind, config=cfg,
                             progress=not getattr(args, "no_progress", False))
    except RecordsKeyError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(rep.to_json() if args.json else rep.summary())
    if args.rejects and rep.rejected:
        rep.write_rejects_csv(args.rejects)
        print(f"rejected rows written to {args.rejects}", file=sys.stderr)
    return exit_code(rep)


def run_demo_school(args: argparse.Namespace) -> int:
    """``demo-school --out DIR --seed N [--students N --weeks N]``."""
    extra: dict[str, Any] = {}
    if getattr(args, "start", None) is not None:
        extra["start"] = args.start - timedelta(days=args.start.weekday())
    out = generate_demo_school(args.out, args.seed, students=args.students, weeks=args.weeks, **extra)
    print(f"demo school written to {out}")
    return 0


def run_oulad_staff(args: argparse.Namespace) -> int:
    """``oulad-staff --oulad DIR --out DIR``: the generated (invented) staff roster for OULAD, as OneRoster CSV."""
    from .oulad_staff import write_staff_roster

    out = write_staff_roster(args.oulad, args.out)
    print(f"generated OULAD staff roster (OneRoster CSV) written to {out}; import it with: import oneroster {out}")
    return 0


def add_oulad_staff_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--oulad", type=Path, required=True, help="the OULAD folder (courses.csv, studentInfo.csv)")
    p.add_argument("--out", type=Path, required=True)


def run_keygen(args: argparse.Namespace) -> int:
    from .keys import write_key_file

    try:
        write_key_file(args.path)
    except RecordsKeyError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"records key written to {args.path} (keep it secret, back it up)")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cloud_aggregator.records")
    sub = ap.add_subparsers(dest="cmd", required=True)
    add_import_arguments(sub.add_parser("import", help="import records"))
    add_demo_arguments(sub.add_parser("demo-school", help="generate the demo school"))
    sub.add_parser("keygen", help="create a records key file (mode 0600)").add_argument("path", type=Path)
    add_oulad_staff_arguments(sub.add_parser("oulad-staff", help="generate a staff roster for OULAD (invented)"))
    args = ap.parse_args(argv)
    return {"import": run_import, "demo-school": run_demo_school, "keygen": run_keygen,
            "oulad-staff": run_oulad_staff}[args.cmd](args)


def exit_code(rep: ImportReport) -> int:
    """0 every row imported; 1 some rows rejected (the rest imported); 2 a file could not be read."""
    if rep.errors:
        return 2
    return 1 if rep.rejected else 0


if __name__ == "__main__":
    raise SystemExit(main())
