"""Turned-away students: a lost face track whose seat is still occupied counts as present and not attending."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.vision.presence import AwayState, same_torso, torso_summary
from edge_agent.vision.tracking import Track


def _tracks(n: int, missed: int, hits: int = 5) -> list[Track]:
    return [Track(i, (100.0 * i, 50.0, 30.0, 30.0), missed=missed, hits=hits) for i in range(n)]


def test_a_lost_track_is_checked_after_two_missed_frames_and_kept_while_present():
    s, calls = AwayState(per_frame=4), []
    ts = _tracks(1, missed=1)

    def check(t):
        calls.append(t.id)
        return True

    assert s.step(ts, [], check) == [] and not calls, "one missed frame is detector flicker, not checked"
    ts[0].missed = 2
    away = s.step(ts, [], check)
    assert [t.id for t in away] == [0] and ts[0].missed == 0, "present: reported and kept alive"
    ts[0].missed = 1
    assert [t.id for t in s.step(ts, [], check)] == [0], "still away on the next frame"
    assert s.step(ts, [0], check) == [], "its face is back: no longer away"


def test_an_empty_seat_is_not_reported_and_unknown_is_not_presence():
    s = AwayState()
    ts = _tracks(2, missed=3)
    away = s.step(ts, [], lambda t: False if t.id == 0 else None)
    assert away == [] and ts[0].missed == 3, "nobody there: the track is left to expire"


def test_one_frame_false_faces_are_never_kept_alive():
    s = AwayState(min_hits=3)
    ts = _tracks(1, missed=4, hits=1)
    assert s.step(ts, [], lambda t: True) == []


def test_checks_per_frame_are_bounded_and_spread_least_recent_first():
    s, calls = AwayState(per_frame=2, max_age=10), []
    ts = _tracks(5, missed=2)

    def check(t):
        calls.append(t.id)
        return True

    s.step(ts, [], check)
    s.step(ts, [], check)
    s.step(ts, [], check)
    assert len(calls) == 6 and set(calls) == {0, 1, 2, 3, 4}, calls


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2000), st.integers(0, 2000), st.floats(0, 300), st.floats(0, 300))
def test_torso_summary_is_a_distribution_or_none_for_any_box(x, y, w, h):
    rgb = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    s = torso_summary(rgb, (float(x % 200) - 20, float(y % 150) - 20, w, h))
    if s is not None:
        assert s.shape == (64,) and abs(float(s.sum()) - 1) < 1e-5 and same_torso(s, s) is True
    assert same_torso(None, s) is None


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.sets(st.integers(0, 5)), st.sampled_from([True, False, None])),
                max_size=40))
def test_only_lost_tracks_are_ever_reported_away(steps):
    s = AwayState(per_frame=3)
    ts = _tracks(6, missed=0)
    for bump, seen, result in steps:
        for t in ts:
            t.missed = 0 if t.id in seen else t.missed + bump
        away = s.step(ts, sorted(seen), lambda t, r=result: r)
        assert not {t.id for t in away} & seen, "a track with a face this frame is facing, not away"
        assert len({t.id for t in away}) == len(away)


@pytest.fixture(scope="module")
def frames(samples_dir):
    cap = cv2.VideoCapture(str(samples_dir / "classroom.mp4"))
    ok, frame = cap.read()
    cap.release()
    assert ok
    return frame


def _student_frames(frame: np.ndarray):
    """The sample frame with one front-row student facing, turned away (back of the head) and gone."""
    from edge_agent.config import AgentConfig
    from edge_agent.vision.stage import VisionPipelineStage

    st_ = VisionPipelineStage(AgentConfig(policy="no-emotion", vision={"hand_raises": False, "mesh_per_frame": 0}))
    faces = st_.process(0.0, frame).faces
    st_.close()
    x, y, w, h = max(faces, key=lambda f: f.box[2]).box
    cx, cy = int(x + w / 2), int(y + h / 2)
    away = frame.copy()
    cv2.ellipse(away, (cx, cy), (int(0.6 * w), int(0.75 * h)), 0, 0, 360, (45, 35, 30), -1)  # hair, as the sample
    gone = frame.copy()
    cv2.rectangle(gone, (int(cx - 1.3 * w), int(cy - 0.9 * h)), (int(cx + 1.3 * w), int(cy + 2.9 * h)),
                  (160, 140, 120), -1)  # the floor colour where the student sat
    return (x, y, w, h), away, gone


@pytest.mark.privacy
def test_turned_away_student_counts_against_attention_and_an_empty_seat_does_not(frames):
    from edge_agent.config import AgentConfig
    from edge_agent.vision.stage import VisionPipelineStage

    box, away, gone = _student_frames(frames)

    def run(later: np.ndarray) -> list:
        stage = VisionPipelineStage(AgentConfig(policy="no-emotion",
                                                vision={"hand_raises": False, "mesh_per_frame": 0}))
        try:
            seq = [frames] * 3 + [later] * 6
            return [stage.process(float(i), f) for i, f in enumerate(seq)]
        finally:
            stage.close()

    def near(o, facing):
        return [f for f in o.faces if f.facing is facing
                and abs(f.box[0] - box[0]) < box[2] / 2 and abs(f.box[1] - box[1]) < box[3] / 2]

    turned = run(away)
    assert all(near(o, True) for o in turned[:3]) and not any(near(o, True) for o in turned[3:])
    kept = [near(o, False) for o in turned[3:]]
    assert all(kept[2:]), "from the second missed frame on, the student is present, not facing"
    assert all(f.attentive is False and f.expression is None and f.yaw is None for k in kept for f in k)
    tid = near(turned[0], True)[0].track_id
    assert {f.track_id for k in kept[2:] for f in k} == {tid}, "same ephemeral track: still one person"

    empty = run(gone)
    assert not any(near(o, False) for o in empty[3:]), "an empty seat is nobody, not an inattentive student"
