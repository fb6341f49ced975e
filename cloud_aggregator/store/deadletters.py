"""Dead letters: how a refused message is kept (digest + short preview, never the body) and read by people.

One row per distinct (topic, payload); repeats bump ``count``. The IT view and
``cloud-aggregator deadletters`` read through ``list_page``/``get``/``purge`` here, so the
shell and the tablet show the same fields and neither ever shows more than the preview.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .engine import RecordsDB

#: Dead letters keep a short printable preview only: enough to debug, too little to hold media.
PREVIEW_BYTES = 256
#: Columns people may see (the table has no body column at all; this keeps the listing narrow).
LIST_COLUMNS = ("id", "received_at", "last_seen", "topic", "reason", "size", "count")
SHOW_COLUMNS = (*LIST_COLUMNS, "sha256", "preview")
UPSERT_SQL = (
    "INSERT INTO dead_letters (id, received_at, topic, reason, size, sha256, preview, count, last_seen) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT (id) DO UPDATE SET "
    "count = dead_letters.count + 1, last_seen = excluded.last_seen")


def preview(payload: bytes) -> str:
    text = payload[:PREVIEW_BYTES].decode("utf-8", errors="replace")
    return "".join(ch if ch.isprintable() else "\N{REPLACEMENT CHARACTER}" for ch in text)


def row(topic: str, payload: bytes, reason: str, received_at: str) -> tuple[Any, ...]:
    """Parameters of ``UPSERT_SQL`` for one refused message."""
    digest = hashlib.sha256(payload).hexdigest()
    key = hashlib.sha256(topic.encode("utf-8", "replace") + b"\0" + digest.encode()).hexdigest()
    return (key, received_at, topic[:512], reason[:2000], len(payload), digest, preview(payload), received_at)


def device_of(topic: str) -> str | None:
    parts = topic.split("/")
    return parts[4] if len(parts) >= 6 and parts[0] == "classpulse" else None


def _shape(r: dict[str, Any], cols: tuple[str, ...]) -> dict[str, Any]:
    out = {c: r.get(c) for c in cols}
    out["device"] = device_of(r.get("topic") or "")
    out["count"] = int(out.get("count") or 1)
    return out


def list_page(db: RecordsDB, limit: int = 50, offset: int = 0, device: str | None = None) -> dict[str, Any]:
    """Newest first (by last time seen); ``total`` counts rows matching, ``items`` carry no preview."""
    limit, offset = max(1, min(int(limit), 500)), max(0, int(offset))
    where, params = "", []
    if device:
        where, params = " WHERE topic LIKE ?", [f"classpulse/%/%/%/{device}/%"]
    total = int(db.query(f"SELECT COUNT(*) AS n FROM dead_letters{where}", params)[0]["n"])  # noqa: S608
    rows = db.query(f"SELECT {', '.join(LIST_COLUMNS)} FROM dead_letters{where} "  # noqa: S608
                    "ORDER BY COALESCE(last_seen, received_at) DESC, id LIMIT ? OFFSET ?", [*params, limit, offset])
    return {"total": total, "limit": limit, "offset": offset, "items": [_shape(r, LIST_COLUMNS) for r in rows]}


def get(db: RecordsDB, key: str) -> dict[str, Any] | None:
    """One dead letter by id (a unique prefix of at least 8 hex digits is enough)."""
    if len(key) < 8 or any(c not in "0123456789abcdef" for c in key):
        return None
    rows = db.query(f"SELECT {', '.join(SHOW_COLUMNS)} FROM dead_letters WHERE id LIKE ? LIMIT 2",  # noqa: S608
                    (key + "%",))
    return _shape(rows[0], SHOW_COLUMNS) if len(rows) == 1 else None


def purge(db: RecordsDB, before: str | None = None, key: str | None = None) -> int:
    """Delete dead letters last seen before ``before`` (ISO UTC), or one by id, or all; returns rows deleted."""
    if key is not None:
        n = db.execute("DELETE FROM dead_letters WHERE id = ?", (key,))
    elif before is not None:
        n = db.execute("DELETE FROM dead_letters WHERE COALESCE(last_seen, received_at) < ?", (before,))
    else:
        n = db.execute("DELETE FROM dead_letters")
    db.commit()
    return n
