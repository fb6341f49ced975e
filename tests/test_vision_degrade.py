"""The vision degradation ladder: sheds in the documented order under load, recovers with hysteresis."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.vision.degrade import (
    FRAME_RATE,
    FULL,
    KEYPOINT_POSE,
    LEVEL_NAMES,
    NO_EXPRESSION,
    NO_HANDS,
    SHED_AT,
    DegradationLadder,
    available_levels,
)

ALL = available_levels(hands=True, mesh=True, expression=True)
#: CPU cost of one frame at each level (seconds, unloaded): hands and mesh are the costly optional work.
COST = {FULL: 0.40, NO_HANDS: 0.26, KEYPOINT_POSE: 0.20, NO_EXPRESSION: 0.17, FRAME_RATE: 0.17}


def run(ladder: DegradationLadder, share: float, frames: int) -> list[int]:
    """Feed ``frames`` frames whose wall time is the level's CPU cost / the CPU share the stage gets."""
    out = []
    for _ in range(frames):
        out.append(ladder.observe(COST[ladder.level] / share))
    return out


def test_levels_and_names_are_fixed_and_cumulative():
    assert LEVEL_NAMES == ("full", "no_hands", "keypoint_pose", "no_expression", "frame_rate")
    assert ALL == (0, 1, 2, 3, 4)
    for a, b in zip(SHED_AT, SHED_AT[1:], strict=False):
        assert a <= b, "a higher level sheds everything the lower one does"
    assert available_levels(hands=False, mesh=True, expression=False) == (FULL, KEYPOINT_POSE, FRAME_RATE)


def test_idle_cpu_stays_at_full_work():
    lad = DegradationLadder(1.0, ALL)
    assert set(run(lad, 1.0, 50)) == {FULL}
    assert lad.status.name == "full" and not lad.status.shed


def test_sheds_in_order_under_load_and_stops_where_the_frame_fits():
    lad = DegradationLadder(1.0, ALL)
    seen = run(lad, 0.3, 40)  # 70 % of the CPU taken: full work costs 1.33 s against a 1 s budget
    firsts = [seen.index(lv) for lv in sorted(set(seen))]
    assert firsts == sorted(firsts), "rungs are taken in order"
    assert seen[-1] == NO_HANDS, "0.26 / 0.3 = 0.87 s fits under 0.9 s: no need to shed more"
    assert set(seen[-20:]) == {NO_HANDS}, "and it stays there (no flapping)"


def test_heavy_load_reaches_frame_rate_and_recovers_when_the_cpu_frees_up():
    lad = DegradationLadder(1.0, ALL)
    assert run(lad, 0.1, 30)[-1] == FRAME_RATE
    back = run(lad, 1.0, 60)
    assert back[-1] == FULL, "recovers all the way once the CPU is free"
    assert back.index(FULL) <= 4 * 5, "within a few dwell periods"
    steps = [b for a, b in zip(back, back[1:], strict=False) if a != b]
    assert steps == sorted(steps, reverse=True), "recovery goes one rung at a time, downwards"


def test_a_borderline_load_does_not_flap():
    lad = DegradationLadder(1.0, ALL)
    seen = run(lad, 0.43, 200)  # full costs 0.93 s (just over), no_hands 0.60 s: recovery never fits
    changes = sum(1 for a, b in zip(seen, seen[1:], strict=False) if a != b)
    assert changes <= 3, changes
    assert seen[-1] == NO_HANDS


def test_a_premature_recovery_doubles_the_wait():
    lad = DegradationLadder(1.0, (FULL, NO_HANDS, FRAME_RATE), dwell=4)
    run(lad, 0.3, 10)
    assert lad.level == NO_HANDS
    while lad.level != FULL:  # the CPU frees up for a moment: it recovers ...
        run(lad, 1.0, 1)
    run(lad, 0.3, 3)  # ... and the load is back at once: full work had to be given up again
    assert lad.level == NO_HANDS and lad.dwell == 8, "the premature recovery doubles the wait"
    run(lad, 1.0, 40)
    run(lad, 1.0, 20)
    assert lad.level == FULL and lad.dwell == 4, "a recovery that holds resets the wait"


def test_pinned_or_disabled_ladder_never_moves():
    lad = DegradationLadder(1.0, ALL, enabled=False)
    assert set(run(lad, 0.05, 30)) == {FULL}, "disabled: today's behaviour, full work whatever the cost"
    lad = DegradationLadder(1.0, ALL)
    lad.pin(KEYPOINT_POSE)
    assert set(run(lad, 1.0, 30)) == {KEYPOINT_POSE}
    with pytest.raises(ValueError):
        lad.pin(9)
    with pytest.raises(ValueError):
        DegradationLadder(0.0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.0, 20.0, allow_nan=False), max_size=300), st.sampled_from([ALL, (FULL, FRAME_RATE)]))
def test_any_cost_sequence_keeps_the_level_on_the_ladder(costs, levels):
    lad = DegradationLadder(1.0, levels)
    prev = lad.level
    for c in costs:
        lv = lad.observe(c)
        assert lv in levels
        assert abs(levels.index(lv) - levels.index(prev)) <= 1, "one rung per frame at most"
        prev = lv


def test_a_live_stage_over_budget_sheds_and_says_so_on_every_frame(samples_dir):
    import cv2

    from edge_agent.config import AgentConfig
    from edge_agent.vision.stage import VisionPipelineStage

    cap = cv2.VideoCapture(str(samples_dir / "classroom.mp4"))
    ok, frame = cap.read()
    cap.release()
    assert ok
    cfg = AgentConfig(policy="no-emotion", video={"target_fps": 30})  # a 33 ms budget no frame here can meet
    offline = VisionPipelineStage(cfg)
    live = VisionPipelineStage(cfg, live=True)
    try:
        assert {offline.process(float(i), frame).degradation_level for i in range(3)} == {FULL}, \
            "offline (replay) every frame gets full work"
        obs = [live.process(float(i), frame) for i in range(5)]
        assert obs[0].degradation_level == FULL and obs[0].degradation == "full" and not obs[0].shed
        assert obs[-1].degradation_level >= NO_HANDS and "hand_raises" in obs[-1].shed
        assert all(o.shed == SHED_AT[o.degradation_level] & {"hand_raises", "face_mesh"} for o in obs), \
            "policy no-emotion: expression is never listed as shed (it was not configured)"
        assert not any(o.hands_raised for o in obs if "hand_raises" in o.shed)
        assert all(len(o.faces) >= 20 for o in obs), "faces are never shed"
        live.ladder.pin(KEYPOINT_POSE)
        o = live.process(9.0, frame)
        assert o.degradation == "keypoint_pose" and all(f.roll is None for f in o.faces if f.facing), \
            "no face mesh: keypoint pose has no roll"
        assert any(f.attentive is not None for f in o.faces), "attention is still measured"
    finally:
        offline.close()
        live.close()
