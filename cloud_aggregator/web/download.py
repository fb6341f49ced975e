"""``Content-Disposition`` for downloads whose names come from imported data (class ids, titles).

A name is never pasted into the header: the ASCII ``filename`` keeps only ``[A-Za-z0-9_-]`` (plus our extension) and the
RFC 6266 / RFC 5987 ``filename*`` carries the full (sanitised) Unicode name percent-encoded, so a class
id with quotes or ``; filename*=`` cannot rename the file and Chinese ids download under their own name.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

_UNSAFE = re.compile(r"[^\w-]+")  # \w is Unicode-aware: 中文 stays; quotes, ;, dots, /, \ and controls go
_NON_ASCII_SAFE = re.compile(r"[^A-Za-z0-9_-]+")


def safe_stem(stem: str) -> str:
    """``stem`` as one safe file-name part (letters of any script, digits, ``_``, ``-``): no dots, no slashes."""
    return _UNSAFE.sub("_", unicodedata.normalize("NFC", stem)).strip("._")[:150] or "download"


def attachment(stem: str, ext: str) -> str:
    """The header value for downloading ``<stem>.<ext>`` (``ext`` is ours, e.g. ``csv``)."""
    name = safe_stem(stem)
    ascii_stem = _NON_ASCII_SAFE.sub("_", unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode())
    ascii_stem = re.sub(r"_+", "_", ascii_stem).strip("._") or "download"
    full = f"{name}.{ext}"
    return f'attachment; filename="{ascii_stem[:150]}.{ext}"; filename*=UTF-8\'\'{quote(full, safe="")}'
