"""Shared import loop: CSV rows → validated table rows → idempotent upsert, every row accounted for.

Rows are keyed by the table's primary key; a keyed HMAC of each row's *plaintext* is stored as
``row_hash`` so a re-import of the same file writes nothing (``unchanged``) even though encrypted
columns would get fresh ciphertext. Each file is one transaction: a crash leaves the previous state.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tqdm import tqdm

from cloud_aggregator.store import records_refs as refs
from cloud_aggregator.store.engine import RecordsDB
from cloud_aggregator.store.records_tables import IMPORT_REJECTS, IMPORT_RUNS, SECTIONS, Table

from .csvcells import Field, RowError
from .csvsafe import BadRow, CsvFileError, open_csv
from .keys import RecordsKeyError, RecordsKeys
from .report import ImportReport

BATCH = 5000
DELETE = "__delete__"  # to_row may return {DELETE: True, **pk} for OneRoster delta deletes
ENCRYPTED_SUFFIX = "_enc"  # columns ending so hold a dict of plaintext until written


@dataclass
class ImportContext:
    db: RecordsDB
    keys: RecordsKeys
    report: ImportReport
    run_id: str
    progress: bool = True
    max_bytes: int = 512 * 1024 * 1024
    max_rows: int = 5_000_000
    cache: dict[str, Any] = field(default_factory=dict)


def new_context(db: RecordsDB, keys: RecordsKeys, kind: str, source: str, *, progress: bool = True,
                max_bytes: int = 512 * 1024 * 1024, max_rows: int = 5_000_000) -> ImportContext:
    db.ensure_schema()
    check_key(db, keys)
    run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]
    report = ImportReport(kind=kind, source=source, run_id=run_id)
    return ImportContext(db, keys, report, run_id, progress, max_bytes, max_rows)


def check_key(db: RecordsDB, keys: RecordsKeys) -> None:
    """First import stores the key fingerprint; later imports must use the same key."""
    stored = refs.key_fingerprint(db)
    if stored is None:
        refs.save_key_fingerprint(db, keys.fingerprint)
    elif stored != keys.fingerprint:
        raise RecordsKeyError("this database was written with a different records key; pseudonyms and "
                              "encrypted names would not match (use the original key file)")


def finish(ctx: ImportContext, started: str) -> ImportReport:
    """Record the run and its rejected rows (dead-letter; raw rows encrypted: they may hold names)."""
    rep = ctx.report
    rep.check_balance()
    summary = rep.to_dict()
    summary["rejected"] = len(rep.rejected)  # the rows themselves are in import_rejects (encrypted)
    ctx.db.upsert_many(IMPORT_RUNS, [{
        "run_id": ctx.run_id, "kind": rep.kind, "source": rep.source, "started_at": started,
        "finished_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "report_json": json.dumps(summary, ensure_ascii=False)}])
    ctx.db.upsert_many(IMPORT_REJECTS, [
        {"run_id": ctx.run_id, "seq": i, "file": r.file, "line": r.line, "reason": r.reason,
         "raw_enc": ctx.keys.encrypt({"raw": r.raw}) if r.raw else None}
        for i, r in enumerate(rep.rejected)])
    ctx.db.commit()
    return rep


def now_utc() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


RowFn = Callable[[dict[str, Any], ImportContext], dict[str, Any]]
MergeFn = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]


def import_csv(ctx: ImportContext, path: Path, fields: Sequence[Field], table: Table, to_row: RowFn, *,
               merge: MergeFn | None = None, row_check: Callable[[dict[str, Any]], None] | None = None,
               label: str | None = None) -> None:
    """Import one CSV file into ``table``; results go to ``ctx.report`` under the file's name."""
    name = label or path.name
    rep = ctx.report
    counts = rep.counts(name)
    try:
        src = open_csv(path, fields, max_bytes=ctx.max_bytes, max_rows=ctx.max_rows, row_check=row_check)
    except CsvFileError as e:
        rep.errors.append(str(e))
        return
    rep.warnings.extend(src.notes)
    writer = _Writer(ctx, table, name)
    # Without a merge rule rows stream to the database (only key → line is kept for duplicate checks);
    # with one (LMS sums) rows wait until the file is read.
    pending: dict[tuple[Any, ...], tuple[int, dict[str, Any]]] = {}
    seen: dict[tuple[Any, ...], int] = {}
    deletes: dict[tuple[Any, ...], int] = {}
    bar = tqdm(src, desc=f"import {name}", unit=" rows", file=sys.stderr, disable=not ctx.progress,
               mininterval=0.5, leave=False)
    try:
        for item in bar:
            counts.rows += 1
            if isinstance(item, BadRow):
                rep.reject(name, item.line, item.reason, item.raw)
                continue
            try:
                row = to_row(item.values, ctx)
            except RowError as e:
                rep.reject(name, item.line, str(e), item.raw)
                continue
            for w in item.warnings:
                rep.warnings.append(f"{name}:{item.line}: {w}")
            key = tuple(row[c] for c in table.pk)
            first_line = seen.get(key) or deletes.get(key)
            if row.get(DELETE):
                if first_line is not None:
                    rep.reject(name, item.line, f"same key as line {first_line}", item.raw)
                    continue
                deletes[key] = item.line
                continue
            if first_line is not None:
                if merge is not None and key in pending:
                    pending[key] = (first_line, merge(pending[key][1], row))
                    counts.merged += 1
                else:
                    rep.reject(name, item.line, f"duplicate of line {first_line} (same {', '.join(table.pk)})",
                               item.raw)
                continue
            seen[key] = item.line
            if merge is not None:
                pending[key] = (item.line, row)
            else:
                writer.put(key, row)
        for key, (_line, row) in pending.items():
            writer.put(key, row)
        writer.finish(deletes)
    except BaseException:
        ctx.db.rollback()
        raise
    finally:
        bar.close()


class _Writer:
    """Classifies rows (inserted/updated/unchanged by row hash) and upserts them in batches; no commit
    until :meth:`finish`, so one file is one transaction."""

    def __init__(self, ctx: ImportContext, table: Table, name: str):
        self.ctx, self.table = ctx, table
        self.counts = ctx.report.counts(name)
        self.name = name
        self.existing = ctx.db.existing_hashes(table)
        self.content = [c for c in table.column_names if c not in ("row_hash", "import_run")]
        self.encrypted = [c for c in self.content if c.endswith(ENCRYPTED_SUFFIX)]
        self.batch: list[dict[str, Any]] = []

    def put(self, key: tuple[Any, ...], row: dict[str, Any]) -> None:
        keys = self.ctx.keys
        h = keys.row_hash({c: row.get(c) for c in self.content})
        old = self.existing.get(key)
        if old == h:
            self.counts.unchanged += 1
            return
        if old is None:
            self.counts.inserted += 1
        else:
            self.counts.updated += 1
        out = dict(row)
        for c in self.encrypted:
            if isinstance(out.get(c), dict):
                out[c] = keys.encrypt(out[c])
        out["row_hash"] = h
        out["import_run"] = self.ctx.run_id
        self.batch.append(out)
        if len(self.batch) >= BATCH:
            self.ctx.db.upsert_many(self.table, self.batch)
            self.batch = []

    def finish(self, deletes: dict[tuple[Any, ...], int]) -> None:
        db = self.ctx.db
        db.upsert_many(self.table, self.batch)
        self.batch = []
        gone = [k for k in deletes if k in self.existing]
        db.delete_many(self.table, gone)
        self.counts.deleted += len(deletes)
        if len(gone) < len(deletes):
            self.ctx.report.warnings.append(
                f"{self.name}: {len(deletes) - len(gone)} 'tobedeleted' row(s) were not present")
        db.commit()


def write_derived(ctx: ImportContext, table: Table, rows: Sequence[dict[str, Any]], label: str) -> None:
    """Write rows derived from other files (e.g. OULAD users from studentInfo), counted under ``label``."""
    pending: dict[tuple[Any, ...], tuple[int, dict[str, Any]]] = {}
    for r in rows:
        pending.setdefault(tuple(r[c] for c in table.pk), (0, r))
    ctx.report.counts(label).rows += len(pending)
    writer = _Writer(ctx, table, label)
    try:
        for key, (_line, row) in pending.items():
            writer.put(key, row)
        writer.finish({})
    except BaseException:
        ctx.db.rollback()
        raise


def cached(ctx: ImportContext, key: str, build: Callable[[], Any]) -> Any:
    """Per-import lookup tables (reference ids), built once from the database."""
    if key not in ctx.cache:
        ctx.cache[key] = build()
    return ctx.cache[key]


def require(cond: bool, message: str, field_name: str | None = None) -> None:
    if not cond:
        raise RowError(message, field_name)


def student_pseudonyms(ctx: ImportContext) -> set[str]:
    if "students" not in ctx.cache:
        ctx.cache["students"] = refs.student_pseudonyms(ctx.db)
    return ctx.cache["students"]


def section_ids(ctx: ImportContext) -> set[str]:
    if "sections" not in ctx.cache:
        ctx.cache["sections"] = refs.sourced_ids(ctx.db, SECTIONS)
    return ctx.cache["sections"]


def known_student(ctx: ImportContext, source_id: str, field_name: str = "studentSourcedId") -> str:
    """Pseudonym of a student that exists in ``users`` (import OneRoster first), else RowError."""
    p = ctx.keys.pseudonym(source_id)
    require(p in student_pseudonyms(ctx), f"unknown student {source_id[:40]!r} (import OneRoster users first)",
            field_name)
    return p


def known_section(ctx: ImportContext, sid: str | None, field_name: str = "classSourcedId") -> str | None:
    if sid is None:
        return None
    require(sid in section_ids(ctx), f"unknown class {sid[:40]!r} (import OneRoster classes first)", field_name)
    return sid


def import_folder(ctx: ImportContext, folder: Path, stem: str, fields: Sequence[Field], table: Table, to_row: RowFn,
                  *, merge: MergeFn | None = None) -> None:
    """Import one file, or every ``stem*.csv[.gz]`` (else every ``*.csv``) of a folder, into ``table``."""
    files = find_files(folder, (f"{stem}*.csv", f"{stem}*.csv.gz"))
    if not files and folder.is_dir():
        files = find_files(folder, ("*.csv",))
    if not files:
        ctx.report.errors.append(f"{folder}: no {stem} CSV files found")
    for f in files:
        import_csv(ctx, f, fields, table, to_row, merge=merge)


def find_files(folder: Path, patterns: Sequence[str]) -> list[Path]:
    """A file given directly, or files in a folder matching any pattern (sorted, de-duplicated)."""
    if folder.is_file():
        return [folder]
    found: dict[Path, None] = {}
    for pat in patterns:
        for p in sorted(folder.glob(pat)):
            if p.is_file():
                found[p] = None
    return list(found)
