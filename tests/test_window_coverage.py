"""Per-signal coverage: for any coverage, nulls, flags and engagement follow docs/engagement.md (hypothesis)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classpulse_contract import dumps, parse_aggregate
from edge_agent.config import CoverageConfig, EngagementWeights
from edge_agent.coverage import audio_seconds, hand_frames, vision_share
from edge_agent.engagement import engagement_index, expected_signals
from edge_agent.observations import AudioObservation, FaceObservation, FrameObservation
from edge_agent.vision.degrade import SHED_AT
from edge_agent.window import WindowContext, build_aggregate, count_hand_raises

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)
S0 = T0.timestamp()
W = 60.0
VISION_FIELDS = ("n_faces", "attention_share", "pose_unknown_share", "hand_raises", "zones", "expression_mix",
                 "expression_valence", "expression_arousal")
AUDIO_FIELDS = ("speech_share", "speech_turns", "longest_silence_s", "teacher_talk_share", "tone_mix",
                "tone_valence", "tone_arousal")


def ctx(policy="no-emotion", k=2, camera=True, mic=True, hands=True, cov=None) -> WindowContext:
    return WindowContext("s", "r", "d", policy, k, EngagementWeights(), {"faces": "t"}, hands=hands,
                         coverage=cov or CoverageConfig(), camera=camera, mic=mic)


probs = st.lists(st.floats(0.01, 1.0), min_size=7, max_size=7).map(lambda v: np.array(v) / sum(v))
face = st.builds(FaceObservation, box=st.just((0.0, 0.0, 20.0, 20.0)), score=st.just(0.9),
                 track_id=st.integers(0, 8), attentive=st.none() | st.booleans(),
                 zone=st.none() | st.sampled_from(["front", "back"]), expression=st.none() | probs)


@st.composite
def frames(draw):
    """Frames bunched into a random part of the window, so every coverage from 0 to 1 occurs."""
    a = draw(st.floats(0, W))
    b = draw(st.floats(a, W))
    ts = sorted(draw(st.lists(st.floats(a, b), max_size=40)))
    level = draw(st.integers(0, 3))
    out = []
    for t in ts:
        lvl = draw(st.sampled_from([0, level]))
        shed = SHED_AT[lvl] & {"hand_raises", "face_mesh"}  # what the stage sheds on a no-emotion box
        raised = () if "hand_raises" in shed else tuple(draw(st.lists(st.integers(0, 8), max_size=2, unique=True)))
        out.append(FrameObservation(ts=S0 + t, faces=tuple(draw(st.lists(face, max_size=6))), hands_raised=raised,
                                    degradation_level=lvl, shed=shed))
    return out


@st.composite
def chunks(draw):
    a = draw(st.integers(0, 60))
    n = draw(st.integers(0, 60 - a))
    return [AudioObservation(ts=S0 + a + i, duration_s=1.0, speech=np.array(draw(st.lists(st.booleans(), min_size=100,
                             max_size=100))), tone=draw(st.none() | probs), tone_weight=draw(st.floats(0, 1)))
            for i in range(n)]


def measured(agg, fields):
    return [f for f in fields if getattr(agg, f) is not None]


@settings(max_examples=150, deadline=None)
@given(frames(), chunks(), st.sampled_from(["full", "no-emotion"]), st.booleans(), st.booleans(), st.booleans(),
       st.floats(0.1, 1.0), st.floats(0.1, 1.0))
def test_nulls_flags_and_engagement_follow_the_rule(fr, ch, policy, camera, mic, hands, min_share, min_w):
    cov = CoverageConfig(min_share=min_share, min_engagement_weight=min_w)
    c = ctx(policy, camera=camera, mic=mic, hands=hands, cov=cov)
    a = parse_aggregate(dumps(build_aggregate(c, 1, T0, T0 + timedelta(seconds=W), fr, ch)))
    span = (S0, S0 + W)

    v_share = vision_share(fr, span, cov.frame_reach_s)
    vision_ok = camera and v_share >= min_share and len(fr) >= cov.min_frames
    if not camera:
        assert a.vision_coverage is None and a.vision_level is None
    else:
        assert a.vision_coverage == pytest.approx(v_share, abs=1e-4)
    assert ("vision_starved" in a.coverage_flags) == (camera and not vision_ok)
    if not vision_ok:  # a stage that did not look publishes no vision number, and never a 0
        assert measured(a, VISION_FIELDS) == []
    else:
        handed = hand_frames(fr)
        hands_ok = vision_share(handed, span, cov.frame_reach_s) >= min_share and len(handed) >= cov.min_frames
        assert a.n_faces is not None and (a.hand_raises is not None) == (hands and hands_ok)
        if a.hand_raises is not None:
            assert a.hand_raises == count_hand_raises(handed), "episodes counted only where hands were looked for"
    assert ("vision_degraded" in a.coverage_flags) == (camera and max((f.degradation_level for f in fr), default=0) > 0)

    audio_ok = mic and audio_seconds(ch, span) / W >= min_share
    assert ("audio_starved" in a.coverage_flags) == (mic and not audio_ok)
    if not audio_ok:
        assert measured(a, AUDIO_FIELDS) == []
    elif ch:
        assert a.speech_share is not None and a.speech_turns is not None

    # engagement: attention required where there is a camera, enough of the expected weight measured
    w = EngagementWeights().model_dump()
    expected = expected_signals(camera=camera, mic=mic, hands=hands, emotion=policy == "full")
    valence = a.expression_valence if a.expression_valence is not None else a.tone_valence
    from classpulse_contract.participation import participation_rate
    part = participation_rate(a.hand_raises, a.n_faces, W) if a.n_faces and a.hand_raises is not None else None
    present = {"attention": a.attention_share, "participation": part, "speech": a.speech_share, "valence": valence}
    have = sum(w[k] for k in expected if present[k] is not None)
    want = sum(w[k] for k in expected)
    if not vision_ok and not audio_ok:
        assert a.engagement is None  # no measured signal, no engagement
    if camera and a.attention_share is None:
        assert a.engagement is None
    if a.engagement is not None:
        assert have >= min_w * want > 0
        assert a.engagement == engagement_index(EngagementWeights(), **{
            "attention_share": present["attention"], "participation": present["participation"],
            "speech_share": present["speech"], "valence": present["valence"]})
    elif (not camera or a.attention_share is not None) and have >= min_w * want and have > 0:
        pytest.fail(f"engagement missing although {have:.2f} of {want:.2f} weight was measured")


@settings(max_examples=60, deadline=None)
@given(st.integers(3, 60), st.integers(1, 8))
def test_faces_seen_are_never_reported_as_zero(n_frames, n_people):
    """Frames that contain faces, spread over the window, give a non-zero head count."""
    ts = np.linspace(0, W - 1, n_frames)
    people = tuple(FaceObservation((10.0 * i, 0.0, 20.0, 20.0), 0.9, track_id=i, attentive=True) for i in range(n_people))
    a = build_aggregate(ctx(), 1, T0, T0 + timedelta(seconds=W), [FrameObservation(ts=S0 + t, faces=people) for t in ts], [])
    if "vision_starved" in a.coverage_flags:
        assert a.n_faces is None
    else:
        assert a.n_faces == n_people


def test_window_without_frames_is_starved_not_empty():
    """The issue's case: audio flowed, the vision stage analysed nothing: no 0 faces, no audio-only engagement."""
    ch = [AudioObservation(ts=S0 + i, duration_s=1.0, speech=np.ones(100, bool)) for i in range(60)]
    a = build_aggregate(ctx(), 1, T0, T0 + timedelta(seconds=W), [], ch)
    assert a.n_faces is None and a.attention_share is None and a.hand_raises is None
    assert a.engagement is None and a.coverage_flags == ["vision_starved"]
    assert a.speech_share == 1.0 and a.vision_coverage == 0.0 and a.audio_coverage == 1.0
    empty_room = [FrameObservation(ts=S0 + t) for t in range(0, 60, 2)]  # looked, saw nobody
    b = build_aggregate(ctx(), 1, T0, T0 + timedelta(seconds=W), empty_room, ch)
    assert b.n_faces == 0 and b.coverage_flags == [] and b.engagement is None  # no attention, no index


def test_a_slow_box_still_covers_the_window():
    """One frame every 8 s (0.125 fps) covers the window with the default reach of 5 s either side."""
    people = tuple(FaceObservation((10.0 * i, 0.0, 20.0, 20.0), 0.9, track_id=i, attentive=i % 2 == 0) for i in range(6))
    fr = [FrameObservation(ts=S0 + t, faces=people, degradation_level=2) for t in range(0, 60, 8)]
    a = build_aggregate(ctx(mic=False), 1, T0, T0 + timedelta(seconds=W), fr, [])
    assert a.vision_coverage == 1.0 and a.n_faces == 6 and a.attention_share == 0.5
    assert a.coverage_flags == ["vision_degraded"] and a.vision_level == 2 and a.engagement is not None
    assert a.speech_share is None and a.audio_coverage is None  # no microphone: null, not starved


def test_hands_shed_for_a_frame_do_not_split_one_raise_or_count_a_busy_window():
    """The ladder sheds hand raises under load: a frame that did not look is neither "hand down" (one raise
    would count twice) nor, over most of the window, a measured zero."""
    face = (FaceObservation((0.0, 0.0, 20.0, 20.0), 0.9, track_id=1, attentive=True),)
    up = {"faces": face, "hands_raised": (1,)}
    shed = {"faces": face, "degradation_level": 1, "degradation": "no_hands", "shed": frozenset({"hand_raises"})}
    seq = [FrameObservation(ts=S0 + t, **(shed if t == 30 else up)) for t in range(0, 60, 5)]
    a = build_aggregate(ctx(), 1, T0, T0 + timedelta(seconds=W), seq, [])
    assert a.hand_raises == 1 and "vision_degraded" in a.coverage_flags
    busy = [FrameObservation(ts=S0 + t, **(up if t < 10 else shed)) for t in range(0, 60, 5)]
    b = build_aggregate(ctx(), 1, T0, T0 + timedelta(seconds=W), busy, [])
    assert b.n_faces == 1 and b.attention_share == 1.0, "faces and attention are never shed"
    assert b.hand_raises is None and "vision_degraded" in b.coverage_flags
