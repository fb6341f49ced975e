"""Reads of what the warnings engine stored: its runs, its warnings and the staff's actions on them.

The dashboard shows these rows and never re-runs the rules, so the counsellor's list is the set the
engine routed and delivered. JSON columns come back decoded; no names, only pseudonyms.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from . import db
from .base import Store


def last_run(store: Store) -> dict[str, Any] | None:
    """The latest scoring run (counts and freshness decoded), or None when the engine never ran."""
    rows = db.query(store, "SELECT * FROM warning_runs ORDER BY started_at DESC LIMIT 1")
    if not rows:
        return None
    r = rows[0]
    r["counts"], r["freshness"] = json.loads(r["counts"] or "{}"), json.loads(r["freshness"] or "{}")
    r["stale_sources"] = [x for x in (r["stale_sources"] or "").split(",") if x]
    return r


def run_view(run: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a page says about the run it shows: when, which rules, whether it failed, what was stale."""
    if run is None:
        return None
    return {k: run[k] for k in ("run_id", "started_at", "finished_at", "version", "error", "stale_sources")}


def _decode(r: dict[str, Any]) -> dict[str, Any]:
    r["reasons"] = json.loads(r["reasons"] or "[]")
    r["tags"] = json.loads(r["tags"] or "[]")
    r["intervention"] = json.loads(r["intervention"] or "null")
    r["stale"] = bool(r["stale"])
    r["stale_sources"] = [x for x in (r["stale_sources"] or "").split(",") if x]
    return r


def active_warnings(store: Store, scope: str, subjects: Sequence[str]) -> list[dict[str, Any]]:
    """The engine's current (active) warnings of these students or sections, decoded, most severe first."""
    out: list[dict[str, Any]] = []
    for chunk in db.chunks(subjects):
        out += db.query(store, "SELECT * FROM warning_log WHERE scope = ? AND active = 1 AND subject IN "  # noqa: S608
                               f"{db.in_list(chunk)}", [scope, *chunk])
    return sorted((_decode(r) for r in out), key=lambda r: (-int(r["level"]), r["subject"], r["type"]))


def warning_stored(store: Store, warning_id: str) -> bool:
    """Whether the engine ever stored this warning id (actions on any other id are refused)."""
    return bool(db.query(store, "SELECT 1 FROM warning_log WHERE id = ? LIMIT 1", (warning_id,)))


def warning_states(store: Store, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Latest acknowledge/escalate action per warning id."""
    out: dict[str, dict[str, Any]] = {}
    for chunk in db.chunks(ids):
        for r in db.query(store, "SELECT warning_id, action, by_user, ts FROM warning_actions WHERE warning_id IN "  # noqa: S608
                                 f"{db.in_list(chunk)} ORDER BY ts", chunk):
            out[r["warning_id"]] = {"state": r["action"], "by": r["by_user"], "at": r["ts"]}
    return out
