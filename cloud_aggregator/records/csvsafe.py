"""Robust, hostile-input-aware CSV reading for school record imports (the file level).

Schools export CSVs from Excel, SIS tools and scripts: UTF-8, UTF-8 with BOM, GBK from Chinese
Windows, broken quoting, formula cells planted to attack whoever opens the file next. This module
turns all of that into either parsed values or a row-level error with a line number; it never
raises on a bad row and never drops one silently. Each cell is parsed by ``csvcells``.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .csvcells import DEFAULT_MAX_FIELD_CHARS, Field, RowError, parse_row

DEFAULT_MAX_FILE_BYTES = 512 * 1024 * 1024  # decompressed bytes; beyond this the file is refused
DEFAULT_MAX_ROWS = 5_000_000
_CHUNK = 1 << 20
_Binary = gzip.GzipFile | io.BufferedReader  # what _open_binary returns


class CsvFileError(Exception):
    """The whole file cannot be read (missing, too big, undecodable, no/invalid header)."""


@dataclass
class ParsedRow:
    line: int
    values: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    raw: dict[str, str] = field(default_factory=dict)


@dataclass
class BadRow:
    line: int
    reason: str
    raw: dict[str, str] | list[str]


@dataclass
class CsvSource:
    """An opened CSV: chosen encoding, notes for the report, mapped header and a row iterator."""

    path: Path
    encoding: str
    notes: list[str]
    header: list[str]
    column_map: dict[int, str]  # column index -> canonical field name
    unknown_columns: list[str]
    _rows: Iterator[ParsedRow | BadRow] | None = None

    def __iter__(self) -> Iterator[ParsedRow | BadRow]:
        assert self._rows is not None
        return self._rows


def _open_binary(path: Path) -> _Binary:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")  # noqa: SIM115


def _first_bad_utf8(path: Path, max_bytes: int) -> tuple[int | None, int]:
    """Stream-validate UTF-8; return (offset of first invalid byte or None, total bytes)."""
    dec = codecs.getincrementaldecoder("utf-8")("strict")
    total = 0
    with _open_binary(path) as fh:
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            try:
                dec.decode(chunk)
            except UnicodeDecodeError as e:
                return total + e.start, total
            total += len(chunk)
            if total > max_bytes:
                raise CsvFileError(
                    f"{path.name}: larger than the limit of {max_bytes // (1024 * 1024)} MiB "
                    "(raise records.max_file_mb or split the file)")
        try:
            dec.decode(b"", final=True)
        except UnicodeDecodeError:
            return total, total
    return None, total


def _valid_in(path: Path, encoding: str) -> bool:
    dec = codecs.getincrementaldecoder(encoding)("strict")
    with _open_binary(path) as fh:
        try:
            while chunk := fh.read(_CHUNK):
                dec.decode(chunk)
            dec.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def detect_encoding(path: Path, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> tuple[str, list[str]]:
    """Pick a decoder: BOM → UTF-8/UTF-16; valid UTF-8; else GBK (GB18030) with a note; else error."""
    if not path.exists():
        raise CsvFileError(f"{path.name}: file not found")
    if path.suffix != ".gz" and path.stat().st_size > max_bytes:
        raise CsvFileError(
            f"{path.name}: {path.stat().st_size / 1048576:.1f} MiB is larger than the limit of "
            f"{max_bytes // 1048576} MiB (raise records.max_file_mb or split the file)")
    with _open_binary(path) as fh:
        head = fh.read(4)
    if head.startswith(codecs.BOM_UTF8):
        bad, _ = _first_bad_utf8(path, max_bytes)
        if bad is None:
            return "utf-8-sig", []
        raise CsvFileError(f"{path.name}: starts with a UTF-8 BOM but byte {bad} is not valid UTF-8")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        if _valid_in(path, "utf-16"):
            return "utf-16", [f"{path.name}: read as UTF-16 (Excel 'Unicode text'); please export UTF-8"]
        raise CsvFileError(f"{path.name}: has a UTF-16 byte-order mark but is not valid UTF-16")
    bad, _total = _first_bad_utf8(path, max_bytes)
    if bad is None:
        return "utf-8", []
    if _valid_in(path, "gb18030"):
        return "gb18030", [
            f"{path.name}: not valid UTF-8 (first bad byte at offset {bad}); decoded as GBK/GB18030. "
            "Check names look right, and export as 'CSV UTF-8' next time."]
    raise CsvFileError(
        f"{path.name}: not valid UTF-8 (first bad byte at offset {bad}) nor GBK/GB18030; "
        "save the file as 'CSV UTF-8' and import again")


def _normal_header(name: str) -> str:
    return re.sub(r"[\s_\-.]", "", name.strip().lstrip("\ufeff")).lower()


def map_header(header: Sequence[str], fields: Sequence[Field], file_name: str
               ) -> tuple[dict[int, str], list[str]]:
    """Map header cells to canonical field names (case/space/underscore-insensitive, aliases)."""
    lookup: dict[str, str] = {}
    for f in fields:
        for alias in (f.name, *f.aliases):
            lookup[_normal_header(alias)] = f.name
    mapping: dict[int, str] = {}
    unknown: list[str] = []
    seen: dict[str, int] = {}
    for i, cell in enumerate(header):
        canon = lookup.get(_normal_header(cell))
        if canon is None:
            if cell.strip():
                unknown.append(cell.strip()[:60])
            continue
        if canon in seen:
            raise CsvFileError(f"{file_name}: column {canon!r} appears twice (columns {seen[canon] + 1} and {i + 1})")
        seen[canon] = i
        mapping[i] = canon
    missing = [f.name for f in fields if f.required and f.name not in seen]
    if missing:
        raise CsvFileError(f"{file_name}: missing required column(s): {', '.join(missing)}; "
                           f"header was: {', '.join(h[:30] for h in header[:20])}")
    return mapping, unknown


def open_csv(path: str | Path, fields: Sequence[Field], *, max_bytes: int = DEFAULT_MAX_FILE_BYTES,
             max_rows: int = DEFAULT_MAX_ROWS, row_check: Callable[[dict[str, Any]], None] | None = None,
             ) -> CsvSource:
    """Open and validate the header now; rows are parsed lazily (ParsedRow or BadRow, never raised).

    ``row_check`` may raise RowError for cross-field rules (e.g. end date before start date).
    """
    p = Path(path)
    encoding, notes = detect_encoding(p, max_bytes)
    csv.field_size_limit(DEFAULT_MAX_FIELD_CHARS * 4)
    text = io.TextIOWrapper(_open_binary(p), encoding=encoding, newline="")
    reader = csv.reader(text, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        text.close()
        raise CsvFileError(f"{p.name}: file is empty (no header row)") from None
    except csv.Error as e:
        text.close()
        raise CsvFileError(f"{p.name}: header row is not valid CSV: {e}") from None
    try:
        mapping, unknown = map_header(header, fields, p.name)
    except CsvFileError:
        text.close()
        raise
    if unknown:
        notes.append(f"{p.name}: ignored unknown column(s): {', '.join(unknown[:10])}")
    src = CsvSource(p, encoding, notes, list(header), mapping, unknown)
    src._rows = _iter_rows(reader, text, header, mapping, fields, p.name, max_rows, row_check)
    return src


def _iter_rows(reader: Any, text: io.TextIOWrapper[_Binary], header: list[str], mapping: dict[int, str],
               fields: Sequence[Field], name: str, max_rows: int,
               row_check: Callable[[dict[str, Any]], None] | None) -> Iterator[ParsedRow | BadRow]:
    width = len(header)
    count = 0
    try:
        while True:
            start_line = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                msg = str(e)
                if "field larger than field limit" in msg:
                    msg = f"a cell is larger than {DEFAULT_MAX_FIELD_CHARS * 4} characters"
                yield BadRow(start_line, f"broken CSV: {msg}", [])
                if reader.line_num < start_line:  # no progress: stop rather than loop forever
                    return
                continue
            if not cells or all(c.strip() == "" for c in cells):
                continue  # blank line: nothing to import, nothing lost
            count += 1
            if count > max_rows:
                yield BadRow(start_line, f"{name}: more than {max_rows} rows; the rest of the file was not read "
                             "(raise records.max_rows or split the file)", [])
                return
            if len(cells) != width:
                yield BadRow(start_line, f"expected {width} fields, found {len(cells)} "
                             "(an unquoted comma or a missing quote?)", cells[:width + 5])
                continue
            raw = {mapping[i]: c for i, c in enumerate(cells) if i in mapping}
            try:
                values, warnings = parse_row(fields, raw)
                if row_check is not None:
                    row_check(values)
            except RowError as e:
                yield BadRow(start_line, str(e), raw)
                continue
            yield ParsedRow(start_line, values, warnings, raw)
    finally:
        text.close()
