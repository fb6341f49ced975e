"""Students whose face is gone but who are still in their seat: turned away, so counted as not attending.

Attention is the share of people facing the board. A student who turns fully
away has no detectable face, so with faces alone they silently leave the share
and a half-turned class reads as attentive. Here a face track the detector has
lost for ``min_missed`` frames in a row (one missed frame is detector flicker)
is checked with a second cue that does not need a face: the BlazePose model's
person-presence score on the body ROI under the face's last box (shoulders and
torso are still there when the head turns), with a visible shoulder centred on
that seat. While the latest check (at most ``max_age`` frames old) says
present, the track is kept alive and reported as a person who is not facing
(``FaceObservation.facing=False``, ``attentive=False``). When the check finds
nobody, the track expires as before. Checks are spread over lost tracks, least
recently checked first, ``per_frame`` at most.

:class:`AwayState` is the pure bookkeeping (fed a ``check`` callable, so it is
tested without a model); :func:`seat_occupied` reads one pose.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from edge_agent.vision.bodypose import BodyPose
from edge_agent.vision.faces import Box
from edge_agent.vision.tracking import Track

L_SHOULDER, R_SHOULDER = 11, 12
#: Pose-presence score above which somebody is in the ROI.
MIN_PRESENCE = 0.5
#: A shoulder this visible, and the shoulders' midpoint within this many face widths of the seat's centre.
MIN_SHOULDER_VIS = 0.5
MAX_SEAT_OFFSET = 1.0


def seat_occupied(bp: BodyPose, face: Box) -> bool:
    """Somebody sits under ``face``'s last box: a person in the ROI, shoulders visible and centred on the seat."""
    if bp.presence < MIN_PRESENCE:
        return False
    ls, rs = bp.landmarks[L_SHOULDER], bp.landmarks[R_SHOULDER]
    if max(ls[2], rs[2]) < MIN_SHOULDER_VIS:
        return False
    x, _, w, _ = face
    return abs((ls[0] + rs[0]) / 2 - (x + w / 2)) <= MAX_SEAT_OFFSET * w


@dataclass
class AwayState:
    """Per-window state of lost face tracks: which are still present (see the module docstring)."""

    per_frame: int = 4
    min_missed: int = 2
    min_hits: int = 3  # a track must have shown a face this often (not a one-frame false face)
    max_age: int = 8
    _checked: dict[int, tuple[bool | None, int]] = field(default_factory=dict)  # track → (result, tick)
    _tick: int = 0

    def step(self, tracks: Iterable[Track], seen: Sequence[int], check: Callable[[Box], bool | None]) -> list[Track]:
        """Tracks present in their seat without a face this frame. ``seen``: track ids with a face now.

        Calls ``check`` on at most ``per_frame`` lost tracks; keeps the present
        ones alive (``missed = 0``) so the tracker does not drop them.
        """
        self._tick += 1
        tracks = list(tracks)
        seen_set = set(seen)
        for tid in list(self._checked):
            if tid in seen_set or all(t.id != tid for t in tracks):
                del self._checked[tid]  # facing again, or expired
        lost = [t for t in tracks if t.id not in seen_set and t.hits >= self.min_hits
                and (t.missed >= self.min_missed or t.id in self._checked)]
        for t in sorted(lost, key=lambda t: self._checked.get(t.id, (None, -1))[1])[:max(0, self.per_frame)]:
            self._checked[t.id] = (check(t.box), self._tick)
        away = []
        for t in lost:
            result, tick = self._checked.get(t.id, (None, -1))
            if result is True and self._tick - tick <= self.max_age:
                t.missed = 0
                away.append(t)
        return away

    def reset(self) -> None:
        self._checked.clear()
        self._tick = 0
