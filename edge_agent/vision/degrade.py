"""The vision stage's degradation ladder: shed optional work, in a fixed order, before frames are dropped.

A classroom box shares its CPU (other services, a hot Pi throttling, a second
camera). When a frame costs more wall time than the frame budget (one frame
interval, ``1 / video.target_fps``) the source starts dropping frames, and a
window with too few frames says nothing. So the stage first stops doing the
work that only refines a number, one rung at a time, and climbs back when the
CPU frees up. The numbering is fixed, so a level means the same on every box:

====  ================  ==========================================================
 0    ``full``          everything the config asks for
 1    ``no_hands``      no hand-raise pose crops: hand raises not measured
 2    ``keypoint_pose`` no face mesh: every face gets the detector-keypoint pose
 3    ``no_expression`` no expression model (policy ``full`` only)
 4    ``frame_rate``    nothing optional left: frames are analysed at full cost
                        of the rest and the analysed rate falls below target
====  ================  ==========================================================

Faces, tracks, presence of turned-away students and attention are never shed:
they are what every published vision number rests on. Rungs that shed nothing
in a config (hands off, policy ``no-emotion``) are skipped.

:class:`DegradationLadder` is pure: it is fed the measured wall time of each
frame and returns the level for the next one. It goes up when the smoothed cost
stays above ``high × budget`` for ``patience`` frames; it comes down one rung
after at least ``dwell`` frames when the cost predicted for the rung above
(current cost × the cost ratio measured at the last crossing of that rung)
fits under ``margin × high × budget``. A rung given up too soon after a
recovery doubles the wait before the next try (hysteresis against flapping).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

FULL, NO_HANDS, KEYPOINT_POSE, NO_EXPRESSION, FRAME_RATE = range(5)
#: Level → name, as reported on every FrameObservation (``degradation``) and in health.
LEVEL_NAMES: tuple[str, ...] = ("full", "no_hands", "keypoint_pose", "no_expression", "frame_rate")
#: Level → the optional work not done on a frame at that level (names of FrameObservation.shed).
SHED_AT: tuple[frozenset[str], ...] = (
    frozenset(),
    frozenset({"hand_raises"}),
    frozenset({"hand_raises", "face_mesh"}),
    frozenset({"hand_raises", "face_mesh", "expression"}),
    frozenset({"hand_raises", "face_mesh", "expression"}),
)
#: Assumed cost ratio (rung above / this rung) before one has been measured: cautious.
DEFAULT_RATIO = 2.0


def available_levels(hands: bool, mesh: bool, expression: bool) -> tuple[int, ...]:
    """The rungs that change anything for this config, in order (always 0 and ``frame_rate``)."""
    out = [FULL]
    if hands:
        out.append(NO_HANDS)
    if mesh:
        out.append(KEYPOINT_POSE)
    if expression:
        out.append(NO_EXPRESSION)
    out.append(FRAME_RATE)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class LadderStatus:
    level: int
    name: str
    shed: frozenset[str]


class DegradationLadder:
    """Per-frame wall cost in, level for the next frame out (see the module docstring)."""

    def __init__(self, budget_s: float, levels: Iterable[int] = (FULL, FRAME_RATE), *, enabled: bool = True,
                 high: float = 0.9, margin: float = 0.8, patience: int = 2, dwell: int = 4,
                 max_dwell: int = 64, alpha: float = 0.4):
        if budget_s <= 0:
            raise ValueError("budget_s must be positive")
        self.budget_s = budget_s
        self.levels = tuple(sorted(set(levels) | {FULL}))
        self.enabled = enabled
        self.high, self.margin, self.patience, self.alpha = high, margin, patience, alpha
        self.base_dwell, self.max_dwell = dwell, max_dwell
        self.dwell = dwell
        self.level = FULL
        self._est: float | None = None  # smoothed cost at the current level
        self._over = 0  # frames in a row with the smoothed cost over the limit
        self._at_level = 0  # frames since the last level change
        self._ratio: dict[int, float] = {}  # level → cost(rung above) / cost(level), measured at crossings
        self._cross: tuple[int, float] | None = None  # (level left, its cost) until the new level is measured
        self._recovered_at: int | None = None  # level reached by the last recovery, while on probation

    @property
    def status(self) -> LadderStatus:
        return LadderStatus(self.level, LEVEL_NAMES[self.level], SHED_AT[self.level])

    def pin(self, level: int) -> None:
        """Hold ``level`` regardless of cost (benchmarks; ``enabled=False`` keeps today's full work)."""
        if level not in range(len(LEVEL_NAMES)):
            raise ValueError(f"no degradation level {level}")
        self.level = level
        self.enabled = False

    def _move(self, to: int) -> None:
        self._cross = (self.level, self._est or 0.0)
        self.level = to
        self._est, self._over, self._at_level = None, 0, 0

    def observe(self, cost_s: float) -> int:
        """Record one frame's measured wall time at the current level; return the level for the next frame."""
        if not self.enabled:
            return self.level
        cost_s = max(0.0, float(cost_s))
        self._est = cost_s if self._est is None else self.alpha * cost_s + (1 - self.alpha) * self._est
        self._at_level += 1
        if self._cross is not None and self._at_level >= 2:  # learn the ratio of the rung crossed
            left, left_cost = self._cross
            lo, hi = (left, self.level) if left < self.level else (self.level, left)
            c_lo, c_hi = (left_cost, self._est) if left < self.level else (self._est, left_cost)
            if c_hi > 0 and lo != hi:
                self._ratio[hi] = max(1.0, c_lo / c_hi)
            self._cross = None
        limit = self.high * self.budget_s
        self._over = self._over + 1 if self._est > limit else 0
        i = self.levels.index(self.level)
        if self._over >= self.patience and i + 1 < len(self.levels):
            if self._recovered_at == self.level and self._at_level < 2 * self.dwell:
                self.dwell = min(self.max_dwell, 2 * self.dwell)  # that recovery was premature: wait longer
            self._recovered_at = None
            self._move(self.levels[i + 1])
            return self.level
        if self._recovered_at == self.level and self._at_level >= 2 * self.dwell:
            self._recovered_at = None  # held the recovered rung: probation over, back to the short wait
            self.dwell = self.base_dwell
        if i > 0 and self._at_level >= self.dwell:
            predicted = self._est * self._ratio.get(self.level, DEFAULT_RATIO)
            if predicted <= self.margin * limit:
                self._move(self.levels[i - 1])
                self._recovered_at = self.level
        return self.level
