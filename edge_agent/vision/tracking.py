"""Ephemeral face tracks inside one window: greedy IoU/centroid association, no appearance features.

Tracks exist to count unique faces and smooth per-face states; they hold boxes
only and are cleared at every window boundary (``reset``), so nothing links a
face across windows, let alone to a person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edge_agent.vision.faces import Box, iou


@dataclass
class Track:
    id: int
    box: Box
    missed: int = 0
    hits: int = 1  # frames in which a face was matched to this track


def _centre_dist(a: Box, b: Box) -> float:
    ax, ay = a[0] + a[2] / 2, a[1] + a[3] / 2
    bx, by = b[0] + b[2] / 2, b[1] + b[3] / 2
    return ((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5 / max(1.0, (a[2] + b[2]) / 2)


class FaceTracker:
    def __init__(self, iou_min: float = 0.2, max_centre_dist: float = 0.6, max_missed: int = 5):
        self.iou_min = iou_min
        self.max_centre_dist = max_centre_dist
        self.max_missed = max_missed
        self.tracks: list[Track] = []
        self._next = 0

    def update(self, boxes: Sequence[Box]) -> list[int]:
        """Track id for each box, in order."""
        pairs = []
        for i, b in enumerate(boxes):
            for t in self.tracks:
                v = iou(b, t.box)
                d = _centre_dist(b, t.box)
                if v >= self.iou_min or d <= self.max_centre_dist:
                    pairs.append((-v, d, i, t))
        pairs.sort(key=lambda p: (p[0], p[1]))
        assigned: dict[int, int] = {}
        used: set[int] = set()
        for _, _, i, t in pairs:
            if i in assigned or t.id in used:
                continue
            assigned[i] = t.id
            used.add(t.id)
            t.box, t.missed = boxes[i], 0
            t.hits += 1
        for t in self.tracks:
            if t.id not in used:
                t.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        ids = []
        for i, b in enumerate(boxes):
            if i not in assigned:
                self.tracks.append(Track(self._next, b))
                assigned[i] = self._next
                self._next += 1
            ids.append(assigned[i])
        return ids

    def reset(self) -> None:
        self.tracks.clear()
        self._next = 0
