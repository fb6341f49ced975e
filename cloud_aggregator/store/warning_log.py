"""The warnings the engine stored (``warning_log``), its latest run and the staff's actions on them.

The engine writes each warning once per id and updates it in place; the dashboard shows these rows and
never re-runs the rules, so the counsellor's list is the set the engine routed and delivered. The
dashboard's reads come back with their JSON columns decoded; no names, only pseudonyms.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from . import db
from .base import Store, iso
from .warning_runs import recent_runs
from .warning_tables import WARNING_LOG


def last_run(store: Store) -> dict[str, Any] | None:
    """The latest scoring run (counts and freshness decoded), or None when the engine never ran."""
    rows = recent_runs(store, 1)
    if not rows:
        return None
    r = rows[0]
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


# ---------------------------------------------------------------- the engine's writes and its own reads
def warnings_by_id(store: Store, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The stored rows of these warning ids (as stored: JSON columns as text); ids never stored are absent."""
    out: dict[str, dict[str, Any]] = {}
    for chunk in db.chunks(ids):
        for r in db.query(store, f"SELECT * FROM warning_log WHERE id IN {db.in_list(chunk)}", chunk):  # noqa: S608
            out[r["id"]] = r
    return out


def save_warnings(store: Store, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or replace whole warning rows; ``reasons``, ``tags`` and ``intervention`` are stored as JSON."""
    enc = [{**r, **{k: json.dumps(r[k], ensure_ascii=False) for k in ("reasons", "tags", "intervention")},
            "stale": int(r["stale"])} for r in rows]
    db.insert(store, WARNING_LOG, enc)


def active_summaries(store: Store) -> list[dict[str, Any]]:
    """id, scope, subject, type and state of every active warning (what a run resolves or suppresses)."""
    return db.query(store, "SELECT id, scope, subject, type, state FROM warning_log WHERE active = 1")


def open_warnings(store: Store) -> list[dict[str, Any]]:
    """Active warnings still ``open`` (neither acknowledged nor at the end of their chain), as stored."""
    return db.query(store, "SELECT * FROM warning_log WHERE state = ? AND active = 1", ("open",))


def deactivate(store: Store, warning_id: str, state: str) -> None:
    """The warning is no longer current; ``state`` says why (resolved, suppressed, or the state it had)."""
    db.write(store, "UPDATE warning_log SET active = 0, state = ? WHERE id = ?", (state, warning_id))


def set_state(store: Store, warning_id: str, state: str) -> None:
    """The warning's routing state (acknowledged: escalation stops; exhausted: its chain has no next role)."""
    db.write(store, "UPDATE warning_log SET state = ? WHERE id = ?", (state, warning_id))


def move_step(store: Store, warning_id: str, step: int, role: str, at: datetime) -> None:
    """The warning now sits at ``step`` (``role``) of its chain, routed at ``at`` (its escalation clock restarts)."""
    db.write(store, "UPDATE warning_log SET step = ?, step_role = ?, routed_at = ? WHERE id = ?",
             (step, role, iso(at), warning_id))
