"""What the teacher's live view reads besides the Store's room windows: the room's devices and the
section's recent lessons (for its usual level).

``web.live`` decides online/offline and the per-lesson means; these functions return the rows as stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import db

if TYPE_CHECKING:
    from .base import Store


def room_devices(store: Store, site: str, room: str) -> list[dict[str, Any]]:
    """``device``, ``state`` and ``last_seen`` of every device registered in this room."""
    return db.query(store, "SELECT device, state, last_seen FROM devices WHERE site = ? AND room = ?", (site, room))


def recent_section_windows(store: Store, section_id: str, limit: int) -> list[dict[str, Any]]:
    """The section's latest ``limit`` windows filed under a lesson, newest first: session, span and the
    class-level numbers the usual level averages."""
    return db.query(store, "SELECT session_id, window_start, window_end, n_faces, hand_raises, attention_share, "
                           "engagement, speech_share FROM aggregates WHERE section_id = ? AND session_id IS NOT NULL "
                           "ORDER BY window_start DESC LIMIT ?", (section_id, limit))
