"""Engagement index: one number in [0, 1] per window; rationale in docs/engagement.md.

A weighted mean of the signals that are available, re-normalised over the weights
of the ones present, so that a missing microphone or the no-emotion policy does
not drag the index down.
"""

from __future__ import annotations

from edge_agent.config import EngagementWeights


def participation_rate(hand_raises: int, n_faces: int, window_s: float) -> float:
    """Hand raises per student per 10 minutes, squashed to [0, 1] (1 raise/student/10 min = 0.5)."""
    if n_faces <= 0 or window_s <= 0:
        return 0.0
    rate = hand_raises / n_faces * (600.0 / window_s)
    return rate / (1.0 + rate)


def speech_balance(speech_share: float) -> float:
    """Talk in the room helps up to ~60 % of the time; a silent or saturated room scores lower."""
    return max(0.0, 1.0 - abs(speech_share - 0.6) / 0.6)


def engagement_index(
    weights: EngagementWeights,
    *,
    attention_share: float | None,
    participation: float | None,
    speech_share: float | None,
    valence: float | None,
) -> float | None:
    parts: list[tuple[float, float]] = []
    if attention_share is not None:
        parts.append((weights.attention, attention_share))
    if participation is not None:
        parts.append((weights.participation, participation))
    if speech_share is not None:
        parts.append((weights.speech, speech_balance(speech_share)))
    if valence is not None:
        parts.append((weights.valence, (valence + 1.0) / 2.0))
    total = sum(w for w, _ in parts)
    if total <= 0:
        return None
    return round(min(1.0, max(0.0, sum(w * v for w, v in parts) / total)), 4)
