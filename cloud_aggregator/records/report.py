"""ImportReport: what an import did, row by row — nothing silently dropped.

Every row read ends in exactly one bucket: inserted, updated, unchanged (idempotent re-import),
deleted (OneRoster delta ``tobedeleted``), merged (summed into an earlier row of the same key,
LMS only) or rejected (with file, line and reason). ``check_balance`` proves that.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .csvcells import neutralise


@dataclass
class RejectedRow:
    file: str
    line: int
    reason: str
    raw: dict[str, str] | list[str] = field(default_factory=dict)


@dataclass
class FileCounts:
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    merged: int = 0
    rejected: int = 0

    def balanced(self) -> bool:
        return self.rows == (self.inserted + self.updated + self.unchanged + self.deleted
                             + self.merged + self.rejected)


@dataclass
class ImportReport:
    kind: str
    source: str
    files: dict[str, FileCounts] = field(default_factory=dict)
    rejected: list[RejectedRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # whole-file failures
    run_id: str = ""

    def counts(self, file: str) -> FileCounts:
        return self.files.setdefault(file, FileCounts())

    def reject(self, file: str, line: int, reason: str, raw: Any = None) -> None:
        self.counts(file).rejected += 1
        self.rejected.append(RejectedRow(file, line, reason, raw if raw is not None else {}))

    def merge(self, other: ImportReport) -> None:
        for name, c in other.files.items():
            mine = self.counts(name)
            for k, v in asdict(c).items():
                setattr(mine, k, getattr(mine, k) + v)
        self.rejected.extend(other.rejected)
        self.warnings.extend(other.warnings)
        self.errors.extend(other.errors)

    def total(self, what: str) -> int:
        return sum(getattr(c, what) for c in self.files.values())

    @property
    def ok(self) -> bool:
        """True when every file was readable and no row was rejected."""
        return not self.errors and not self.rejected

    def check_balance(self) -> None:
        bad = [n for n, c in self.files.items() if not c.balanced()]
        if bad:
            raise AssertionError(f"row accounting does not balance for {bad}: {self.files}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "source": self.source, "run_id": self.run_id, "ok": self.ok,
            "files": {k: asdict(v) for k, v in self.files.items()},
            "rejected": [asdict(r) for r in self.rejected],
            "warnings": self.warnings, "errors": self.errors,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    def summary(self, max_rejects: int = 20) -> str:
        lines = [f"import {self.kind} from {self.source}"]
        for name, c in self.files.items():
            lines.append(f"  {name}: {c.rows} rows — {c.inserted} new, {c.updated} updated, "
                         f"{c.unchanged} unchanged, {c.deleted} deleted, {c.merged} merged, {c.rejected} rejected")
        for e in self.errors:
            lines.append(f"  ERROR {e}")
        for w in self.warnings[:max_rejects]:
            lines.append(f"  warning: {w}")
        if len(self.warnings) > max_rejects:
            lines.append(f"  … {len(self.warnings) - max_rejects} more warnings")
        for r in self.rejected[:max_rejects]:
            lines.append(f"  rejected {r.file}:{r.line}: {r.reason}")
        if len(self.rejected) > max_rejects:
            lines.append(f"  … {len(self.rejected) - max_rejects} more rejected rows (see the rejects file)")
        return "\n".join(lines)

    def write_rejects_csv(self, path: str | Path) -> Path:
        """Rejected rows as CSV for the school to fix; every cell neutralised against formulas."""
        p = Path(path)
        with p.open("w", encoding="utf-8-sig", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["file", "line", "reason", "row"])
            for r in self.rejected:
                raw = json.dumps(r.raw, ensure_ascii=False)
                w.writerow([neutralise(r.file), r.line, neutralise(r.reason), neutralise(raw)])
        return p
