"""Assign timestamped observations to fixed windows and close them in order.

Pure bookkeeping shared by the live runner and offline replay: windows are
aligned to multiples of ``window_s`` since the epoch, so every device in a
school cuts its windows at the same instants and ``msg_id`` (the window start
in whole seconds) is unique and increasing per device without stored state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone

from edge_agent.observations import AudioObservation, FrameObservation


def window_bounds(ts: float, window_s: float) -> tuple[float, float]:
    start = math.floor(ts / window_s) * window_s
    return start, start + window_s


def msg_id_for(window_start: float) -> int:
    return int(round(window_start))


def to_dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


@dataclass
class OpenWindow:
    start: float
    end: float
    frames: list[FrameObservation] = field(default_factory=list)
    chunks: list[AudioObservation] = field(default_factory=list)
    quality: set[str] = field(default_factory=set)
    first_ts: float | None = None
    last_ts: float | None = None

    def note(self, ts: float) -> None:
        self.first_ts = ts if self.first_ts is None else min(self.first_ts, ts)
        self.last_ts = ts if self.last_ts is None else max(self.last_ts, ts)


class Windower:
    """Collect observations into open windows; ``close_*`` hands back the ones that are complete.

    A window is closed once: an observation that arrives after its window was closed (a slow stage
    finishing a frame captured before the cut) is counted in ``late`` and dropped, never used to reopen
    the window — a reopened window would be a second, near-empty message with the same ``msg_id``.
    """

    def __init__(self, window_s: float):
        self.window_s = window_s
        self._open: dict[float, OpenWindow] = {}
        self._closed_until: float | None = None
        self.late = 0

    def _get(self, ts: float) -> OpenWindow | None:
        start, end = window_bounds(ts, self.window_s)
        if self._closed_until is not None and start < self._closed_until:
            self.late += 1
            return None
        w = self._open.get(start)
        if w is None:
            w = self._open[start] = OpenWindow(start, end)
        w.note(ts)
        return w

    def add_frame(self, obs: FrameObservation) -> bool:
        """False: the observation was late (its window is already closed) and was dropped."""
        w = self._get(obs.ts)
        if w is not None:
            w.frames.append(obs)
        return w is not None

    def add_chunk(self, obs: AudioObservation) -> bool:
        w = self._get(obs.ts)
        if w is not None:
            w.chunks.append(obs)
        return w is not None

    def add_flag(self, ts: float, flag: str) -> None:
        w = self._get(ts)
        if w is not None:
            w.quality.add(flag)

    def _closed(self, done: list[OpenWindow], until: float) -> list[OpenWindow]:
        """Remove ``done``; every window that ends at or before ``until`` now counts as closed."""
        for w in done:
            del self._open[w.start]
        edge = window_bounds(until, self.window_s)[0]
        self._closed_until = edge if self._closed_until is None else max(self._closed_until, edge)
        return done

    def close_before(self, ts: float) -> list[OpenWindow]:
        """Windows that ended at or before ``ts`` (oldest first), removed from the open set."""
        done = sorted((w for w in self._open.values() if w.end <= ts), key=lambda w: w.start)
        return self._closed(done, ts)

    def close_all(self) -> list[OpenWindow]:
        done = sorted(self._open.values(), key=lambda w: w.start)
        return self._closed(done, done[-1].end) if done else done
