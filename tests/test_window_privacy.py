"""k-anonymity and policy modes hold for every aggregate the window can build (hypothesis)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classpulse_contract import dumps, parse_aggregate
from edge_agent.config import EngagementWeights
from edge_agent.observations import AudioObservation, FaceObservation, FrameObservation
from edge_agent.window import WindowContext, build_aggregate, count_hand_raises

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)
S0 = T0.timestamp()


def ctx(policy: str, k: int = 5) -> WindowContext:
    return WindowContext("s", "r", "d", policy, k, EngagementWeights(), {"faces": "t"})


probs = st.lists(st.floats(0.01, 1.0), min_size=7, max_size=7).map(lambda v: np.array(v) / sum(v))
face = st.builds(
    FaceObservation,
    box=st.just((0.0, 0.0, 20.0, 20.0)), score=st.just(0.9),
    track_id=st.integers(0, 12), attentive=st.none() | st.booleans(),
    zone=st.none() | st.sampled_from(["front", "back"]), expression=st.none() | probs,
)
frame = st.builds(FrameObservation, ts=st.floats(0, 59).map(lambda t: S0 + t), faces=st.lists(face, max_size=12).map(tuple),
                  hands_raised=st.lists(st.integers(0, 12), max_size=3, unique=True).map(tuple))
chunk = st.builds(
    AudioObservation, ts=st.floats(0, 59).map(lambda t: S0 + t), duration_s=st.just(1.0),
    speech=st.lists(st.booleans(), min_size=100, max_size=100).map(np.array),
    tone=st.none() | probs, tone_weight=st.floats(0, 1),
)


@pytest.mark.privacy
@settings(max_examples=200, deadline=None)
@given(st.lists(frame, max_size=20), st.lists(chunk, max_size=10), st.sampled_from(["full", "no-emotion"]),
       st.integers(2, 8))
def test_every_aggregate_respects_k_and_policy(frames, chunks, policy, k):
    a = build_aggregate(ctx(policy, k), 1, T0, T0 + timedelta(seconds=60), frames, chunks)
    parse_aggregate(dumps(a))  # the contract re-checks the same rules
    if policy == "no-emotion":
        assert a.expression_mix is None and a.tone_mix is None
        assert a.expression_valence is None and a.tone_valence is None
    if a.n_faces is None or a.n_faces < k:
        assert a.expression_mix is None and a.expression_valence is None
    for z in a.zones or ():
        if z.n_faces < k:
            assert z.attention_share is None


def test_expression_mix_published_at_k():
    faces = tuple(FaceObservation((0, 0, 30, 30), 0.9, track_id=i, attentive=True,
                                  expression=np.eye(7)[3]) for i in range(5))
    frames = [FrameObservation(ts=S0 + t, faces=faces) for t in range(0, 60, 6)]
    a = build_aggregate(ctx("full"), 1, T0, T0 + timedelta(seconds=60), frames, [])
    assert a.n_faces == 5 and a.expression_mix["happy"] == 1.0 and a.attention_share == 1.0
    fewer = [FrameObservation(ts=f.ts, faces=f.faces[:4]) for f in frames]
    b = build_aggregate(ctx("full"), 1, T0, T0 + timedelta(seconds=60), fewer, [])
    assert b.n_faces == 4 and b.expression_mix is None


def test_hand_raise_counts_once_per_episode():
    seq = [(), (1,), (1,), (1, 2), (), (1,)]
    frames = [FrameObservation(ts=float(i), hands_raised=h) for i, h in enumerate(seq)]
    assert count_hand_raises(frames) == 3


def test_speech_turns_and_share():
    # 400 ms of speech, a 400 ms pause (a turn change), 400 ms of speech, then 700 ms of silence
    speech = np.array([0] * 10 + [1] * 40 + [0] * 40 + [1] * 40 + [0] * 70, dtype=bool)
    one_s = (S0, S0 + 1.0)  # the agent sensed one second of this window
    a = build_aggregate(ctx("no-emotion"), 1, T0, T0 + timedelta(seconds=60), [],
                        [AudioObservation(ts=S0, duration_s=1.0, speech=speech)], observed=one_s)
    assert a.speech_turns == 2 and a.speech_share == pytest.approx(0.4)
    assert a.longest_silence_s == pytest.approx(0.7)
    short_pause = np.array([1] * 40 + [0] * 10 + [1] * 40, dtype=bool)  # 100 ms: same sentence
    b = build_aggregate(ctx("no-emotion"), 1, T0, T0 + timedelta(seconds=60), [],
                        [AudioObservation(ts=S0, duration_s=1.0, speech=short_pause)], observed=one_s)
    assert b.speech_turns == 1
