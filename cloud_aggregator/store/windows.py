"""One row per device and window: which not-inserted messages are twins, not redeliveries, and why.

The insert skips any row whose ``(device, msg_id)`` or ``(device, window_start)`` exists. Of those
skipped, the very same message again (same device, msg_id and window) is a harmless duplicate;
anything else would be a second row for one window (or one msg_id for two windows) and becomes a
dead letter whose reason names both messages.
"""

from __future__ import annotations

from typing import Any

from classpulse_contract import Aggregate

from .engine import RecordsDB

Pending = tuple[Aggregate, str, str, str]  # (aggregate, window_start as stored, received_at, payload)


def clashes(db: RecordsDB, old: list[Pending], step: int = 250) -> list[tuple[Pending, int | None]]:
    """Of messages not inserted, those that are NOT a redelivery of the stored row, each with the msg_id
    stored for its window (None: its msg_id is stored for another window). One query per ``step``."""
    out: list[tuple[Pending, Any]] = []
    for i in range(0, len(old), step):
        chunk = old[i:i + step]
        cond = " OR ".join("(device = ? AND (msg_id = ? OR window_start = ?))" for _ in chunk)
        found = db.query(f"SELECT device, msg_id, window_start FROM aggregates WHERE {cond}",  # noqa: S608
                         [v for a, ws, _, _ in chunk for v in (a.device, a.msg_id, ws)])
        have = {(r["device"], int(r["msg_id"]), r["window_start"]) for r in found}
        for item in chunk:
            a, ws = item[0], item[1]
            if (a.device, a.msg_id, ws) not in have:
                out.append((item, next((m for d, m, w in have if d == a.device and w == ws), None)))
    return out


def reason(a: Aggregate, ws: str, other: int | None) -> str:
    if other is not None:
        return (f"window {ws} of device {a.device} is already stored as msg_id {other}; this message has msg_id "
                f"{a.msg_id} (one row per device and window)")
    return f"msg_id {a.msg_id} of device {a.device} is already stored for another window; this message is for {ws}"
