"""Per-lesson class-level numbers of a set of sections, for the weekly reports.

Two sources, both class-level only: lessons still held as raw windows (``aggregates`` grouped by session)
and lessons already rolled up by retention (``session_summaries``). ``web.reports`` merges them, the raw
windows first, and filters the raw sessions by the date their session id carries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import db

if TYPE_CHECKING:
    from .base import Store


def session_window_stats(store: Store, sections: Sequence[str]) -> list[dict[str, Any]]:
    """Per (session_id, section_id, room) of these sections' windows: ``n`` windows, mean ``att``ention,
    ``eng``agement and ``talk`` (speech share), and the ``hands`` raised."""
    out: list[dict[str, Any]] = []
    for chunk in db.chunks(sections):
        out += db.query(store, "SELECT session_id, section_id, room, COUNT(*) AS n, AVG(attention_share) AS att, "  # noqa: S608
                               "AVG(engagement) AS eng, AVG(speech_share) AS talk, SUM(hand_raises) AS hands "
                               f"FROM aggregates WHERE section_id IN {db.in_list(chunk)} AND session_id IS NOT NULL "
                               "GROUP BY session_id, section_id, room", chunk)
    return out


def session_summaries(store: Store, sections: Sequence[str], since: str, until: str) -> list[dict[str, Any]]:
    """The rolled-up sessions of these sections dated in [since, until) (every ``session_summaries`` column)."""
    out: list[dict[str, Any]] = []
    for chunk in db.chunks(sections):
        out += db.query(store, "SELECT * FROM session_summaries WHERE section_id IN "  # noqa: S608
                               f"{db.in_list(chunk)} AND date >= ? AND date < ?", [*chunk, since, until])
    return out
