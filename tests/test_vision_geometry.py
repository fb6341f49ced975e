"""Tiling, NMS, tracking and head-pose geometry (pure functions, no model)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.vision.faces import Detection, iou, nms, tile_grid, touches_inner_edge
from edge_agent.vision.pose import attentive, yaw_pitch_from_keypoints
from edge_agent.vision.tracking import FaceTracker


def test_tiles_cover_frame_with_overlap():
    tiles = tile_grid(1920, 1080, 3, 3, 0.2)
    assert len(tiles) == 9
    covered = set()
    for x, y, w, h in tiles:
        for px in range(0, 1920, 40):
            for py in range(0, 1080, 40):
                if x <= px < x + w and y <= py < y + h:
                    covered.add((px, py))
    assert len(covered) == len(range(0, 1920, 40)) * len(range(0, 1080, 40))
    (x0, _, w0, _), (x1, _, _, _) = tiles[0], tiles[1]
    assert x0 + w0 - x1 == pytest.approx(0.2 * w0, abs=2)


def test_nms_prefers_whole_face_over_cut_fragment():
    whole = Detection((100, 100, 40, 40), 0.7)
    cut = Detection((100, 100, 22, 40), 0.9, cut=True)
    other = Detection((300, 100, 40, 40), 0.8)
    kept = nms([cut, whole, other])
    assert whole in kept and other in kept and cut not in kept


@given(st.lists(st.tuples(st.floats(0, 500), st.floats(0, 500), st.floats(5, 80), st.floats(0.1, 1)), max_size=30))
def test_nms_output_has_no_overlaps(raw):
    dets = [Detection((x, y, w, w), s) for x, y, w, s in raw]
    kept = nms(dets, 0.3)
    for i, a in enumerate(kept):
        for b in kept[i + 1:]:
            assert iou(a.box, b.box) < 0.3


def test_inner_edge_detection():
    assert touches_inner_edge((600, 10, 30, 30), (0, 0, 630, 400), 1920, 1080)
    assert not touches_inner_edge((0, 10, 30, 30), (0, 0, 630, 400), 1920, 1080)  # frame edge is fine


def kps_for(yaw_deg: float, pitch_deg: float = 0.0, eye=20.0):
    """Synthetic keypoints of a face rotated by yaw (nose shifts along the eye axis)."""
    cx, cy = 100.0, 100.0
    shift = math.sin(math.radians(yaw_deg)) * eye / 2
    t = 0.55 - pitch_deg / 120.0
    return [(cx - eye / 2, cy), (cx + eye / 2, cy), (cx + shift, cy + t * 24), (cx, cy + 24)]


@pytest.mark.parametrize("yaw", [-60, -30, -10, 0, 15, 45])
def test_yaw_recovered_from_keypoints(yaw):
    est, _ = yaw_pitch_from_keypoints(kps_for(yaw))
    assert est == pytest.approx(yaw, abs=2)


@pytest.mark.parametrize("pitch", [-20, 0, 20])
def test_pitch_recovered(pitch):
    _, est = yaw_pitch_from_keypoints(kps_for(0, pitch))
    assert est == pytest.approx(pitch, abs=2)


def test_tiny_faces_have_unknown_pose():
    assert yaw_pitch_from_keypoints(kps_for(10, eye=2)) is None


def test_attention_cone():
    assert attentive(10, 5, cone_deg=30)
    assert not attentive(50, 0, cone_deg=30)
    assert attentive(40, 0, target_yaw=30, cone_deg=30)  # board off to one side


def test_tracker_keeps_ids_and_counts_unique():
    tr = FaceTracker()
    a = tr.update([(10, 10, 20, 20), (100, 10, 20, 20)])
    b = tr.update([(102, 11, 20, 20), (12, 10, 20, 20)])
    assert sorted(a) == [0, 1] and b == [a[1], a[0]]
    c = tr.update([(300, 300, 20, 20)])
    assert c == [2]
    tr.reset()
    assert tr.update([(10, 10, 20, 20)]) == [0]
