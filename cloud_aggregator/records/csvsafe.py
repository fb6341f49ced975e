"""Robust, hostile-input-aware CSV reading for school record imports.

Schools export CSVs from Excel, SIS tools and scripts: UTF-8, UTF-8 with BOM, GBK from Chinese
Windows, broken quoting, formula cells planted to attack whoever opens the file next. This module
turns all of that into either parsed values or a row-level error with a line number; it never
raises on a bad row and never drops one silently.

Field kinds decide how a leading ``= + - @`` is handled (formula injection, OWASP CSV injection):
identifiers are *rejected* (no legitimate id starts like that), free text is *neutralised*
(prefixed with ``'`` and reported), numbers/dates/enums are parsed strictly so a formula cannot pass.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

DEFAULT_MAX_FILE_BYTES = 512 * 1024 * 1024  # decompressed bytes; beyond this the file is refused
DEFAULT_MAX_ROWS = 5_000_000
DEFAULT_MAX_FIELD_CHARS = 32_768
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
_CHUNK = 1 << 20


class CsvFileError(Exception):
    """The whole file cannot be read (missing, too big, undecodable, no/invalid header)."""


class RowError(ValueError):
    """One field (or the row) is invalid; ``field`` names the column when known."""

    def __init__(self, message: str, field: str | None = None):
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class Kind(str, Enum):
    ID = "id"
    TEXT = "text"
    INT = "int"
    FLOAT = "float"
    DATE = "date"
    DATETIME = "datetime"
    BOOL = "bool"
    ENUM = "enum"
    PHONE = "phone"  # '+86-21-…' is a phone number, not a formula; anything else formula-like is neutralised
    LIST = "list"  # comma-separated list of identifiers (OneRoster termSourcedIds, orgSourcedIds)


@dataclass(frozen=True)
class Field:
    """One CSV column: canonical name, kind, whether required, accepted header aliases."""

    name: str
    kind: Kind = Kind.TEXT
    required: bool = False
    aliases: tuple[str, ...] = ()
    choices: Mapping[str, str] | None = None  # ENUM: lower-cased input -> canonical value
    min_value: float | None = None
    max_value: float | None = None


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


def is_formula(text: str) -> bool:
    return bool(text) and text.startswith(FORMULA_LEADS)


def neutralise(text: str) -> str:
    """Make a cell inert for spreadsheets (leading apostrophe), idempotently."""
    return "'" + text if is_formula(text) else text


_ID_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,256}$")
_PHONE_RE = re.compile(r"\+?[0-9][0-9 ()./-]{2,31}")
_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0", ""}


def parse_date(text: str) -> str:
    """ISO date (YYYY-MM-DD; a datetime is cut to its date) → 'YYYY-MM-DD'."""
    t = text.strip()
    try:
        if len(t) > 10:
            return parse_datetime(t)[:10]
        return date.fromisoformat(t).isoformat()
    except (ValueError, RowError):
        raise RowError(f"not a date (want YYYY-MM-DD): {t[:40]!r}") from None


def parse_datetime(text: str, default_tz: timezone = timezone.utc) -> str:
    """ISO 8601 datetime (Z or ±hh:mm; naive taken as ``default_tz``) → UTC 'YYYY-MM-DDTHH:MM:SSZ'."""
    t = text.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    try:
        if len(t) == 10:
            dt = datetime.combine(date.fromisoformat(t), datetime.min.time())
        else:
            dt = datetime.fromisoformat(t)
    except ValueError:
        raise RowError(f"not an ISO 8601 date-time: {text.strip()[:40]!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=default_tz)
    if not 1900 <= dt.year <= 2200:
        raise RowError(f"year {dt.year} out of range")
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_value(spec: Field, text: str | None) -> tuple[Any, str | None]:
    """Parse one cell per its field kind → (value, warning or None). Raises RowError only."""
    raw = "" if text is None else text
    if not isinstance(raw, str):
        raise RowError("not text", spec.name)
    if len(raw) > DEFAULT_MAX_FIELD_CHARS:
        raise RowError(f"cell longer than {DEFAULT_MAX_FIELD_CHARS} characters", spec.name)
    if "\x00" in raw:
        raise RowError("contains a NUL byte", spec.name)
    s = raw.strip()
    if s == "":
        if spec.required:
            raise RowError("required value is empty", spec.name)
        return None, None
    k = spec.kind
    try:
        if k is Kind.ID:
            if is_formula(s):
                raise RowError(f"identifier starts with {s[0]!r} (possible formula injection)")
            if not _ID_RE.match(s):
                raise RowError("identifier has control characters or is longer than 256")
            return s, None
        if k is Kind.LIST:
            items = [p.strip() for p in s.split(",") if p.strip()]
            for item in items:
                if is_formula(item) or not _ID_RE.match(item):
                    raise RowError(f"bad identifier in list: {item[:40]!r}")
            return ",".join(items), None
        if k is Kind.PHONE and _PHONE_RE.fullmatch(s):
            return s, None
        if k is Kind.TEXT or k is Kind.PHONE:
            if is_formula(s):
                return neutralise(s), f"{spec.name}: leading {s[0]!r} neutralised (formula injection guard)"
            return s, None
        if k is Kind.INT or k is Kind.FLOAT:
            if k is Kind.INT:
                if not re.fullmatch(r"[+-]?\d{1,18}(\.0+)?", s):
                    raise RowError(f"not a whole number: {s[:40]!r}")
                v: float | int = int(float(s)) if "." in s else int(s)
            else:
                if not re.fullmatch(r"[+-]?(\d{1,15}(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?", s):
                    raise RowError(f"not a number: {s[:40]!r}")
                v = float(s)
            if spec.min_value is not None and v < spec.min_value:
                raise RowError(f"{s} is below the minimum {spec.min_value:g}")
            if spec.max_value is not None and v > spec.max_value:
                raise RowError(f"{s} is above the maximum {spec.max_value:g}")
            return v, None
        if k is Kind.DATE:
            return parse_date(s), None
        if k is Kind.DATETIME:
            return parse_datetime(s), None
        if k is Kind.BOOL:
            low = s.lower()
            if low in _TRUE:
                return True, None
            if low in _FALSE:
                return False, None
            raise RowError(f"not true/false: {s[:40]!r}")
        if k is Kind.ENUM:
            choices = spec.choices or {}
            low = s.lower()
            if low in choices:
                return choices[low], None
            shown = ", ".join(sorted(set(choices.values())))
            raise RowError(f"{s[:40]!r} is not one of: {shown}")
    except RowError as e:
        if e.field is None:
            raise RowError(str(e), spec.name) from None
        raise
    raise RowError(f"unknown field kind {k}", spec.name)  # pragma: no cover


def parse_row(fields: Sequence[Field], raw: Mapping[str, str | None]) -> tuple[dict[str, Any], list[str]]:
    """Parse a header-mapped raw row. Collects every field error into one RowError message."""
    values: dict[str, Any] = {}
    warnings: list[str] = []
    errors: list[str] = []
    for spec in fields:
        try:
            v, w = parse_value(spec, raw.get(spec.name))
        except RowError as e:
            errors.append(str(e))
            continue
        values[spec.name] = v
        if w:
            warnings.append(w)
    if errors:
        raise RowError("; ".join(errors))
    return values, warnings


# --------------------------------------------------------------------------------------- file level


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


def _open_binary(path: Path) -> io.BufferedIOBase:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
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
        enc, notes = "utf-8-sig", []
        bad, _ = _first_bad_utf8(path, max_bytes)
        if bad is None:
            return enc, notes
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


def _iter_rows(reader: Any, text: io.TextIOWrapper, header: list[str], mapping: dict[int, str],
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
