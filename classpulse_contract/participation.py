"""Participation from a window's hand raises: part of what a window means, so both sides compute it one way.

The box folds it into the engagement index; the aggregator shows it per window and uses it in class-level
warnings. Both read ``hand_raises`` and ``n_faces`` from the same ``Aggregate`` fields.
"""

from __future__ import annotations


def participation_rate(hand_raises: int, n_faces: int, window_s: float) -> float:
    """Hand raises per student per 10 minutes, squashed to [0, 1] (1 raise/student/10 min = 0.5)."""
    if n_faces <= 0 or window_s <= 0:
        return 0.0
    rate = hand_raises / n_faces * (600.0 / window_s)
    return rate / (1.0 + rate)


def measured_participation(hand_raises: int | None, n_faces: int | None, window_s: float) -> float | None:
    """Participation when it was measured: hand raises counted and somebody seen (else null, not 0)."""
    if hand_raises is None or not n_faces:
        return None
    return participation_rate(int(hand_raises), int(n_faces), window_s)
