"""Room profiles (validation, atomic merge) and the camera set-up tool (pure proposal + the CLI on the sample)."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from calibration.profile import RoomCalibration, as_profile, load_profile, merge_section
from edge_agent.vision.calibrate import MIN_FACES, FaceSample, propose_camera_section


def _room(rows: int = 4, per_row: int = 8, w: int = 1920, h: int = 1080) -> list[FaceSample]:
    """Faces in rows, small at the back (top) and large at the front; side seats look inward."""
    faces = []
    for r in range(rows):
        size = 20 + 15 * r
        y = 300 + r * 170
        for c in range(per_row):
            x = 200 + c * (w - 400) / (per_row - 1)
            yaw = 15.0 if x < w / 3 else -15.0 if x > 2 * w / 3 else 0.0
            faces.append(FaceSample((x, y, size, size), yaw, -10.0))
    return faces


def test_proposal_covers_every_face_and_learns_perspective():
    faces = _room()
    cam = propose_camera_section(faces, 1920, 1080)
    ax, ay, aw, ah = cam.seated_area
    for f in faces:
        x, y, w, h = f.box
        assert ax * 1920 <= x and x + w <= (ax + aw) * 1920 + 1 and ay * 1080 <= y and y + h <= (ay + ah) * 1080 + 1
    assert cam.face_width_top < cam.face_width_bottom
    assert 15 / 1920 < cam.face_width_top < 25 / 1920 and 55 / 1920 < cam.face_width_bottom < 80 / 1920
    assert cam.board.pitch_deg == -10.0
    names = {z.name: z for z in cam.zones}
    assert set(names) == {"r0c0", "r0c1", "r0c2", "r1c0", "r1c1", "r1c2"}  # r0 = front row, by the board
    assert names["r0c0"].area[1] > names["r1c0"].area[1], "the front row is lower in the image"
    assert names["r0c0"].board.yaw_deg == 15.0 and names["r1c2"].board.yaw_deg == -15.0
    # a zone's board direction is what attention uses for a face there
    z = cam.zone_at(0.15, 0.8)
    assert z is not None and cam.board_for(z).yaw_deg == 15.0


def test_proposal_refuses_an_empty_room_and_sparse_zones_fall_back():
    with pytest.raises(ValueError, match="need at least"):
        propose_camera_section(_room()[: MIN_FACES - 1], 1920, 1080)
    cam = propose_camera_section(_room(rows=2, per_row=4), 1920, 1080, rows=1, cols=3, k=5)
    assert all(z.board is None for z in cam.zones), "fewer than k faces in a zone: use the room's direction"
    assert cam.board_for(cam.zones[0]) == cam.board


def test_profile_validation_names_the_bad_key(tmp_path):
    p = tmp_path / "room.yaml"
    p.write_text(yaml.safe_dump({"camera": {"seated_area": [0.1, 0.1, 0.5, 0.5], "bord": {}}}))
    with pytest.raises(ValueError, match="bord"):
        load_profile(p)
    p.write_text(yaml.safe_dump({"camera": {"seated_area": [0.8, 0.1, 0.5, 0.5]}}))
    with pytest.raises(ValueError, match="fractions of the frame"):
        load_profile(p)
    p.write_text("- just\n- a list\n")
    with pytest.raises(ValueError, match="mapping"):
        load_profile(p)


_json = st.recursive(st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=8),
                     lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=4),
                     max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["room", "camera", "audio", "x"]), _json, max_size=3))
def test_any_profile_document_is_accepted_or_refused_cleanly(doc):
    try:
        prof = as_profile(doc)
    except ValueError:
        return
    assert isinstance(prof, RoomCalibration)


def test_merge_keeps_the_other_section_and_audio_cli_merges(tmp_path):
    p = tmp_path / "room.yaml"
    merge_section(p, "camera", {"seated_area": [0.1, 0.2, 0.8, 0.7], "board": {"yaw_deg": 5, "pitch_deg": -20}})
    merge_section(p, "audio", {"noise_floor_dbfs": -55.0})
    prof = load_profile(p)
    assert prof.camera.board.yaw_deg == 5 and prof.audio.noise_floor_dbfs == -55.0
    with pytest.raises(ValueError):
        merge_section(p, "audio", {"noise_floor_dbfs": 12})
    assert load_profile(p).audio.noise_floor_dbfs == -55.0, "a refused update leaves the profile as it was"


@pytest.mark.privacy
def test_calibrate_camera_cli_on_the_sample_then_the_stage_uses_zones_and_sees_hands(tmp_path, samples_dir):
    out = tmp_path / "room-101.yaml"
    r = subprocess.run([sys.executable, "-m", "edge_agent.cli", "calibrate-camera", "--source",
                        str(samples_dir / "classroom.mp4"), "--seconds", "40", "--every", "5", "--out", str(out)],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert report["faces_seen"] >= 6 * 20 and report["frame"] == [1280, 720]
    from tests._privacy_scan import scan_tree

    assert sorted(p.name for p in tmp_path.iterdir()) == ["room-101.yaml"], "the tool writes the profile, nothing else"
    assert out.stat().st_size < 4096 and not scan_tree(tmp_path), "numbers only: no image bytes in the profile"
    prof = load_profile(out)
    assert prof.camera.seated_area is not None and len(prof.camera.zones) == 6
    assert prof.camera.face_width_top < prof.camera.face_width_bottom
    assert prof.camera.face_detector == "ours", "the profile records whose pose path measured its board directions"

    from edge_agent.config import AgentConfig
    from edge_agent.vision.stage import VisionPipelineStage
    from edge_agent.window import count_hand_raises

    truth = json.loads((samples_dir / "classroom.truth.json").read_text())["frames"]
    stage = VisionPipelineStage(AgentConfig(policy="no-emotion"), prof)
    cap = cv2.VideoCapture(str(samples_dir / "classroom.mp4"))
    quiet, raising = [], []
    for i in range(124):
        ok, frame = cap.read()
        assert ok
        if i % 2 == 0 and (i < 40 or 96 <= i):
            (quiet if i < 40 else raising).append(stage.process(i / 4, frame))
    cap.release()
    stage.close()
    assert not any(t["hands_up"] for t in truth[:40]) and any(t["hands_up"] for t in truth[96:124])
    assert count_hand_raises(quiet) == 0
    assert count_hand_raises(raising) >= 1
    seen = [len(o.faces) / truth[int(o.ts * 4)]["facing"] for o in quiet]
    assert min(seen) >= 0.8, seen
    assert {f.zone for o in quiet for f in o.faces} >= {"r1c0", "r0c2"}
