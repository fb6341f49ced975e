"""Cell-level parsing of school record CSVs: each column's kind, and a strict parse of each value.

Field kinds decide how a leading ``= + - @`` is handled (formula injection, OWASP CSV injection):
identifiers are *rejected* (no legitimate id starts like that), free text is *neutralised*
(prefixed with ``'`` and reported), numbers/dates/enums are parsed strictly so a formula cannot pass.
A bad value raises :class:`RowError` naming its column; ``csvsafe`` turns that into a rejected row.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from enum import Enum
from typing import Any

DEFAULT_MAX_FIELD_CHARS = 32_768
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


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
