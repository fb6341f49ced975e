"""Face-mesh head pose (solvePnP on known rotations), hand-raise geometry and state, perspective tiles."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.vision.bodypose import body_roi, roi_pixels
from edge_agent.vision.faces import perspective_tiles
from edge_agent.vision.hands import (
    L_ELBOW,
    L_SHOULDER,
    L_WRIST,
    NOSE,
    R_ELBOW,
    R_SHOULDER,
    R_WRIST,
    RaiseState,
    mask_others,
    raised_hand,
)
from edge_agent.vision.headpose import MODEL_3D, angles_from_rotation, camera_matrix, pose_from_points


def _rot(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Model-to-camera rotation for a face turned ``yaw`` to the image's right, ``pitch`` up, ``roll`` clockwise."""
    y, p, r = np.radians([-yaw, -pitch, roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return ry @ rx @ rz


@settings(max_examples=60, deadline=None)
@given(st.floats(-60, 60), st.floats(-40, 40), st.floats(-25, 25), st.floats(-300, 300), st.floats(-200, 200))
def test_solvepnp_recovers_known_rotations(yaw, pitch, roll, tx, ty):
    rot = _rot(yaw, pitch, roll)
    rvec, _ = cv2.Rodrigues(rot)
    pts, _ = cv2.projectPoints(MODEL_3D, rvec, np.array([tx, ty, 1800.0]), camera_matrix(1920, 1080), np.zeros(4))
    got = pose_from_points(pts.reshape(-1, 2), 1920, 1080)
    assert got is not None
    assert got[0] == pytest.approx(yaw, abs=1.0)
    assert got[1] == pytest.approx(pitch, abs=1.0)
    eye_line = rot @ np.array([1.0, 0.0, 0.0])  # roll is the eye line's angle in the image
    assert got[2] == pytest.approx(np.degrees(np.arctan2(eye_line[1], eye_line[0])), abs=1.0)
    if yaw == 0 and pitch == 0:
        assert got[2] == pytest.approx(roll, abs=1.0)


def test_angle_signs_match_the_keypoint_convention():
    # turning toward the image's right moves the nose right of the eye midline: positive yaw both ways
    assert angles_from_rotation(_rot(30, 0, 0))[0] == pytest.approx(30)
    assert angles_from_rotation(_rot(0, 20, 0))[1] == pytest.approx(20)
    assert angles_from_rotation(np.eye(3)) == pytest.approx((0, 0, 0))


def _pose(face=(100.0, 100.0, 40.0, 48.0), wrist_dy=None, side="left", vis=0.95, elbow_up=True):
    """33 landmarks of a seated person under ``face``; one wrist ``wrist_dy`` face heights above the nose."""
    x, y, w, h = face
    nose = (x + w / 2, y + h * 0.55)
    lms = [(nose[0], nose[1] + 200, 0.1)] * 33
    lms[NOSE] = (*nose, 0.99)
    sy = y + h * 1.6
    lms[L_SHOULDER], lms[R_SHOULDER] = (x + w * 1.4, sy, 0.99), (x - w * 0.4, sy, 0.99)
    lms[L_ELBOW], lms[R_ELBOW] = (x + w * 1.6, sy + h, 0.9), (x - w * 0.6, sy + h, 0.9)
    lms[L_WRIST], lms[R_WRIST] = (x + w, sy + h * 1.5, 0.9), (x, sy + h * 1.5, 0.9)
    if wrist_dy is not None:
        sh, el, wr = (L_SHOULDER, L_ELBOW, L_WRIST) if side == "left" else (R_SHOULDER, R_ELBOW, R_WRIST)
        lms[el] = (lms[sh][0], sy - (h * 0.5 if elbow_up else -h), vis)
        lms[wr] = (lms[sh][0], nose[1] - wrist_dy * h, vis)
    return lms


def test_raised_hand_geometry():
    face = (100.0, 100.0, 40.0, 48.0)
    assert raised_hand(_pose(face), face) is False
    assert raised_hand(_pose(face, 1.2), face) is True
    assert raised_hand(_pose(face, 1.2, side="right"), face) is True
    assert raised_hand(_pose(face, 0.1), face) is False, "a hand at the cheek is not a raise"
    assert raised_hand(_pose(face, 1.2, elbow_up=False), face) is False, "elbow below the shoulder"
    assert raised_hand(_pose(face, 1.2, vis=0.4), face) is False, "an unsure wrist is not a raise"
    other = (400.0, 100.0, 40.0, 48.0)
    assert raised_hand(_pose(face, 1.2), other) is None, "the pose belongs to someone else"
    assert raised_hand(_pose(face)[:10], face) is None


def test_raise_state_counts_episodes_not_checks():
    s = RaiseState(clear_after=2)
    assert s.update({1: True}, [1, 2]) == {1}
    assert s.update({}, [1, 2]) == {1}, "unchecked tracks keep their state"
    assert s.update({1: False}, [1, 2]) == {1}, "one negative check does not lower a hand"
    assert s.update({1: None}, [1, 2]) == {1}, "no pose is not evidence"
    assert s.update({1: False}, [1, 2]) == frozenset()
    assert s.update({}, [2]) == frozenset()


def test_raise_state_picks_least_recently_checked():
    s = RaiseState()
    assert s.pick([5, 6, 7], 2) == [5, 6]
    s.update({5: False, 6: False}, [5, 6, 7])
    assert s.pick([5, 6, 7], 2)[0] == 7
    s.reset()
    assert s.pick([5, 6, 7], 3) == [5, 6, 7] and not s.up


def test_body_roi_and_masking_keep_only_our_face():
    frame = np.full((200, 300, 3), 200, np.uint8)
    face, other = (100.0, 60.0, 30.0, 30.0), (140.0, 60.0, 30.0, 30.0)
    x0, y0, side = body_roi(face)
    assert x0 <= face[0] and x0 + side >= face[0] + face[2], "the face is inside its ROI"
    assert y0 < face[1] - face[3] and y0 + side > face[1] + 5 * face[3], "room above for a raised arm, torso below"
    crop = roi_pixels(frame, x0, y0, side)
    assert crop.shape == (side, side, 3) and crop[0, 0].tolist() == [0, 0, 0], "black where the ROI leaves the frame"
    x0, y0 = max(0, x0), max(0, y0)
    crop = frame[y0:y0 + side, x0:x0 + side]
    out = mask_others(crop, (x0, y0), face, [face, other])
    assert out is not crop and crop.min() == 200, "the frame itself is never painted"
    fx, fy = int(face[0] - x0 + 5), int(face[1] - y0 + 5)
    ox, oy = int(other[0] - x0 + 5), int(other[1] - y0 + 5)
    assert out[fy, fx].tolist() == [200, 200, 200] and out[oy, ox].tolist() == [128, 128, 128]


@settings(max_examples=80, deadline=None)
@given(st.integers(320, 3840), st.integers(240, 2160), st.floats(6, 40), st.floats(1.0, 4.0))
def test_perspective_tiles_cover_the_area_and_grow_downwards(w, h, top_px, growth):
    area = (0.05 * w, 0.25 * h, 0.9 * w, 0.7 * h)
    tiles = perspective_tiles(w, h, area, top_px, top_px * growth)
    assert tiles
    ys = sorted({t[1] for t in tiles})
    sides = [max(t[2] for t in tiles if t[1] == y) for y in ys]
    assert all(b >= a - 1 for a, b in zip(sides, sides[1:], strict=False)), "tiles get larger toward the front"
    for x, y, tw, th in tiles:
        assert 0 <= x and 0 <= y and x + tw <= w and y + th <= h
    # every point of the area lies in some tile
    for fx in (0.0, 0.33, 0.5, 0.99):
        for fy in (0.0, 0.2, 0.6, 0.99):
            px, py = area[0] + fx * area[2], area[1] + fy * area[3]
            assert any(x <= px <= x + tw and y <= py <= y + th for x, y, tw, th in tiles), (px, py)


def test_perspective_tiles_make_back_faces_big_enough_for_the_detector():
    tiles = perspective_tiles(1920, 1080, (0, 300, 1920, 780), 18, 70, target_px=24)
    back = [t for t in tiles if t[1] == 300]
    assert 18 * 192 / max(t[2] for t in back) >= 20, "a back-row face must reach ~24 px in the 192 px input"
