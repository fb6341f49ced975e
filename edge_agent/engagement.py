"""Engagement index: one number in [0, 1] per window; rationale in docs/engagement.md.

A weighted mean of the signals that are available, re-normalised over the weights
of the ones present, so that a missing microphone or the no-emotion policy does
not drag the index down.
"""

from __future__ import annotations

from edge_agent.config import EngagementWeights


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


def expected_signals(*, camera: bool, mic: bool, hands: bool, emotion: bool) -> frozenset[str]:
    """The index's parts this box is set up to measure (a configuration choice, not a failure)."""
    out = set()
    if camera:
        out.add("attention")
        if hands:
            out.add("participation")
    if mic:
        out.add("speech")
    if emotion and (camera or mic):
        out.add("valence")
    return frozenset(out)


def published_engagement(
    weights: EngagementWeights,
    expected: frozenset[str],
    min_weight: float,
    *,
    attention_share: float | None,
    participation: float | None,
    speech_share: float | None,
    valence: float | None,
) -> float | None:
    """The index only when it rests on enough measurement (docs/engagement.md, "When it is published").

    Null when the box has a camera but attention was not measured, or when the measured parts carry
    less than ``min_weight`` of the weight of the parts the box is set up to measure.
    """
    present = {"attention": attention_share, "participation": participation, "speech": speech_share,
               "valence": valence}
    if "attention" in expected and attention_share is None:
        return None
    w = weights.model_dump()
    want = sum(w[k] for k in expected)
    have = sum(w[k] for k, v in present.items() if v is not None and k in expected)
    if want <= 0 or have <= 0 or have < min_weight * want:
        return None
    return engagement_index(weights, **{  # type: ignore[arg-type]
        "attention_share": attention_share if "attention" in expected else None,
        "participation": participation if "participation" in expected else None,
        "speech_share": speech_share if "speech" in expected else None,
        "valence": valence if "valence" in expected else None})
