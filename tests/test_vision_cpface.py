"""Our face detector (edge_agent/vision/cpface.py): grid geometry, decoding, the shipped model, its defaults."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.config import VisionConfig
from edge_agent.inference.manifest import DEFAULT_MANIFEST, ModelIntegrityError, load_manifest
from edge_agent.vision.cpface import (
    KEYPOINT_MIRROR,
    N_KEYPOINTS,
    OUR_MIN_SCORE,
    PAD_TO,
    STRIDES,
    OurFaceDetector,
    decode,
    grid_centres,
    nms,
    padded_size,
    to_input,
    unmirror,
)
from edge_agent.vision.faces import GRAPH_MIN_SCORE

REPO = Path(__file__).resolve().parents[1]


def _blank(h: int, w: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Raw outputs of every grid for an input h × w, all cells scoring ~0."""
    return [(np.full((h // s, w // s, 1), -20.0, np.float32), np.zeros((h // s, w // s, 4), np.float32),
             np.zeros((h // s, w // s, 2 * N_KEYPOINTS), np.float32)) for s in STRIDES]


def test_grid_centres_are_cell_centres_row_by_row():
    c = grid_centres(64, 96, 32)
    assert c.tolist() == [[16, 16], [48, 16], [80, 16], [16, 48], [48, 48], [80, 48]]


@given(st.integers(1, 2000), st.integers(1, 2000))
def test_padding_rounds_each_side_up_to_the_coarsest_stride(h, w):
    ph, pw = padded_size(h, w)
    assert ph % PAD_TO == 0 and pw % PAD_TO == 0 and 0 <= ph - h < PAD_TO and 0 <= pw - w < PAD_TO


def test_to_input_keeps_pixels_and_pads_with_zeros():
    img = np.full((50, 70, 3), 200, np.uint8)
    x = to_input(img)
    assert x.shape == (1, 64, 96, 3) and x.dtype == np.float32
    assert (x[0, :50, :70] == 200).all() and (x[0, 50:] == 0).all() and (x[0, :, 70:] == 0).all()
    assert to_input(img, 2.0).shape == (1, 128, 160, 3)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(STRIDES), st.integers(0, 3), st.integers(0, 3),
       st.lists(st.floats(-2.0, 3.0), min_size=4, max_size=4), st.floats(-1.5, 1.5))
def test_decode_inverts_the_encoding_the_training_uses(stride, gx, gy, logd, kp_off):
    """A box and keypoints written at one cell as log side distances and offsets (in strides) decode back."""
    h = w = 128
    raw = _blank(h, w)
    level = STRIDES.index(stride)
    gx, gy = min(gx, w // stride - 1), min(gy, h // stride - 1)
    obj, box, kps = raw[level]
    obj[gy, gx, 0] = 4.0
    box[gy, gx] = logd
    kps[gy, gx] = kp_off
    boxes, scores, kp = decode(raw, 0.5)
    cx, cy = (gx + 0.5) * stride, (gy + 0.5) * stride
    d = np.exp(np.array(logd)) * stride
    assert len(boxes) == 1 and math.isclose(scores[0], 1 / (1 + math.exp(-4)), rel_tol=1e-5)
    assert np.allclose(boxes[0], [cx - d[0], cy - d[1], cx + d[2], cy + d[3]], rtol=1e-4, atol=1e-3)
    assert np.allclose(kp[0], np.array([cx, cy]) + kp_off * stride, atol=1e-3)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(STRIDES), st.integers(0, 3), st.integers(0, 3),
       st.lists(st.floats(-2.0, 2.0), min_size=4, max_size=4),
       st.lists(st.floats(-1.5, 1.5), min_size=2 * N_KEYPOINTS, max_size=2 * N_KEYPOINTS))
def test_a_face_seen_in_the_mirror_decodes_back_to_the_face_itself(stride, gx, gy, logd, kp_off):
    """What the network would answer for the mirrored input (the mirrored face, eyes swapped), once
    ``unmirror``-ed, decodes to the original box and keypoints: the flip pass and the plain pass agree."""
    h, w = 128, 96
    plain, mirrored = _blank(h, w), _blank(h, w)
    level = STRIDES.index(stride)
    gx, gy = min(gx, w // stride - 1), min(gy, h // stride - 1)
    left, top, right, bottom = logd
    k = np.array(kp_off, np.float32).reshape(N_KEYPOINTS, 2)
    plain[level][0][gy, gx, 0] = 4.0
    plain[level][1][gy, gx] = logd
    plain[level][2][gy, gx] = k.ravel()
    mx = w // stride - 1 - gx
    mirrored[level][0][gy, mx, 0] = 4.0
    mirrored[level][1][gy, mx] = [right, top, left, bottom]
    mirrored[level][2][gy, mx] = (k[list(KEYPOINT_MIRROR)] * [-1, 1]).ravel()
    want = decode(plain, 0.5)
    got = decode([unmirror(m) for m in mirrored], 0.5)
    for a, g in zip(want, got, strict=True):
        assert np.allclose(a, g, atol=1e-3)


def test_nms_keeps_the_best_of_overlapping_boxes_and_separate_ones():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    keep = nms(boxes, np.array([0.6, 0.9, 0.7], np.float32))
    assert keep.tolist() == [1, 2]


def test_nothing_above_the_threshold_decodes_to_no_faces():
    boxes, scores, kps = decode(_blank(64, 64), 0.5)
    assert boxes.shape == (0, 4) and scores.shape == (0,) and kps.shape == (0, N_KEYPOINTS, 2)


def test_our_detector_is_the_default_and_takes_its_own_defaults_unless_the_config_sets_them():
    ours = VisionConfig(face_detector="ours")
    assert ours.tiles == [(2, 1)] and ours.refine_small_faces is False  # halves: the stage's memory at 1080p
    assert ours.min_detection_confidence == OUR_MIN_SCORE
    assert VisionConfig().model_dump() == ours.model_dump(), "issue #22: our detector is the default"
    set_ = VisionConfig(face_detector="ours", tiles=[(1, 1), (2, 2)], refine_small_faces=True,
                        min_detection_confidence=0.7)
    assert set_.tiles == [(1, 1), (2, 2)] and set_.refine_small_faces is True and set_.min_detection_confidence == 0.7
    for backend in ("litert", "mediapipe"):
        mp = VisionConfig(face_detector=backend)
        assert mp.tiles == [(1, 1), (3, 3)] and mp.refine_small_faces is True
        assert mp.min_detection_confidence == GRAPH_MIN_SCORE
    kept = VisionConfig(face_detector="litert", tiles=[(2, 2)], refine_small_faces=False, min_detection_confidence=0.5)
    assert kept.tiles == [(2, 2)] and kept.refine_small_faces is False and kept.min_detection_confidence == 0.5


# ------------------------------------------------------------------------------------------ the shipped model
MANIFEST = load_manifest()


@pytest.fixture(scope="module")
def face_model() -> Path:
    if "face" not in MANIFEST:
        pytest.skip("no face model in models/manifest.json")
    return MANIFEST["face"].verified_path()


@pytest.fixture(scope="module")
def sample_frames() -> list[tuple[np.ndarray, dict]]:
    truth = json.loads((REPO / "samples" / "classroom.truth.json").read_text())
    cap = cv2.VideoCapture(str(REPO / "samples" / "classroom.mp4"))
    out, i = [], 0
    while len(out) < 3:
        ok, frame = cap.read()
        assert ok
        if i % 40 == 0:
            out.append((frame, truth["frames"][i]))
        i += 1
    return out


def test_the_manifest_marks_it_a_detector_with_an_input_spec(face_model):
    raw = json.loads(DEFAULT_MANIFEST.read_text(encoding="utf-8"))["models"]["face"]
    assert raw["kind"] == "detector" and raw["input"]["preprocess"] == "edge_agent.vision.cpface.to_input"
    assert face_model.stat().st_size < 2_000_000


def test_both_tflite_runtimes_run_it_at_any_frame_size_and_agree(face_model):
    from edge_agent.inference.tflite import RUNTIMES

    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    outs = []
    for rt in RUNTIMES:
        det = OurFaceDetector(face_model, runtime=rt)
        assert det.runtime == rt
        first = det.raw(rgb)
        assert [o[0].shape[:2] for o in first] == [(224 // s, 320 // s) for s in STRIDES]
        det.raw(rgb[:77, :95])  # another size re-allocates; then back
        outs.append(det.raw(rgb))
    for a, b in zip(outs[0], outs[1], strict=True):
        for x, y in zip(a, b, strict=True):
            assert np.isfinite(x).all() and np.abs(x - y).max() <= 0.25 + 0.05 * np.abs(x).max()


def test_it_finds_the_sample_classroom_faces_in_the_whole_frame(face_model, sample_frames):
    """The sample's students facing the camera (26–64 px faces at 1280×720) are found, with keypoints."""
    from edge_agent.vision.faces import TiledFaceDetector

    det = TiledFaceDetector([(1, 1)], min_confidence=OUR_MIN_SCORE, backend="ours")
    try:
        for frame, truth in sample_frames:
            faces = det.detect(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            assert truth["facing"] - 1 <= len(faces) <= truth["students"], (len(faces), truth)
            for f in faces:
                assert len(f.keypoints) == N_KEYPOINTS
                x, y, w, h = f.box
                eyes = f.keypoints[:2]
                assert all(x - w * 0.2 <= ex <= x + w * 1.2 and y - h * 0.2 <= ey <= y + h * 1.2 for ex, ey in eyes)
    finally:
        det.close()
    assert det.version == f"cpface-{MANIFEST['face'].version}-flip-tiles-1x1"


def test_a_tampered_face_model_is_refused(tmp_path, face_model):
    from edge_agent.vision.faces import face_backend

    raw = json.loads(DEFAULT_MANIFEST.read_text(encoding="utf-8"))
    dst = tmp_path / raw["models"]["face"]["file"]
    dst.parent.mkdir(parents=True)
    data = bytearray(face_model.read_bytes())
    data[len(data) // 2] ^= 0x01
    dst.write_bytes(bytes(data))
    (tmp_path / "manifest.json").write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ModelIntegrityError, match="sha256"):
        face_backend("ours", OUR_MIN_SCORE, tmp_path / "manifest.json")


def test_self_test_runs_the_detector_and_refuses_one_that_does_not_load(tmp_path, face_model):
    from edge_agent.model_bundle import BundleError
    from edge_agent.model_updates import self_test

    self_test(DEFAULT_MANIFEST)
    raw = json.loads(DEFAULT_MANIFEST.read_text(encoding="utf-8"))
    raw["models"] = {"face": raw["models"]["face"]}
    dst = tmp_path / raw["models"]["face"]["file"]
    dst.parent.mkdir(parents=True)
    shutil.copy(face_model, dst)
    (tmp_path / "manifest.json").write_text(json.dumps(raw), encoding="utf-8")
    self_test(tmp_path / "manifest.json")
    dst.write_bytes(b"TFL3" + bytes(200))
    import hashlib

    raw["models"]["face"]["sha256"] = hashlib.sha256(dst.read_bytes()).hexdigest()
    (tmp_path / "manifest.json").write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(BundleError, match="'face' does not run"):
        self_test(tmp_path / "manifest.json")


def test_a_release_without_a_face_model_uses_the_one_shipped_with_the_agent(tmp_path, face_model):
    from edge_agent.vision.faces import face_backend

    raw = json.loads(DEFAULT_MANIFEST.read_text(encoding="utf-8"))
    del raw["models"]["face"]
    (tmp_path / "manifest.json").write_text(json.dumps(raw), encoding="utf-8")
    det = face_backend("ours", OUR_MIN_SCORE, tmp_path / "manifest.json")
    assert det.version == f"cpface-{MANIFEST['face'].version}"
    det.close()


def test_crop_keypoints_put_eyes_above_nose_above_mouth_inside_the_face(face_model, sample_frames):
    from edge_agent.vision.crop_keypoints import CropKeypoints
    from edge_agent.vision.faces import TiledFaceDetector

    frame, _ = sample_frames[0]
    rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    det, ck = TiledFaceDetector([(1, 1)], backend="ours"), CropKeypoints()
    try:
        faces = det.detect(rgb)
        got = [(f.box, ck.keypoints(rgb, f.box)) for f in faces]
    finally:
        det.close()
        ck.close()
    found = [(b, k) for b, k in got if k is not None]
    assert len(found) >= 0.9 * len(got)
    for (x, y, w, h), k in found:
        (rx, ry), (lx, ly), (nx, ny), (mx, my) = k[:4]
        assert rx < lx and max(ry, ly) < ny < my, k  # the subject's right eye is on the image's left
        assert all(x - 0.2 * w <= px <= x + 1.2 * w and y - 0.2 * h <= py <= y + 1.2 * h for px, py in k[:4])
    assert ck.keypoints(rgb, (-500.0, -500.0, 10.0, 10.0)) is None  # off the frame: no keypoints, no error


def test_the_vision_stage_runs_our_detector_with_mediapipe_pose_keypoints(face_model, sample_frames):
    from edge_agent.config import AgentConfig
    from edge_agent.vision.stage import VisionPipelineStage

    stage = VisionPipelineStage(AgentConfig(policy="no-emotion", vision={"face_detector": "ours", "mesh_per_frame": 0,
                                                                         "hand_raises": False}))
    try:
        frame, truth = sample_frames[0]
        obs = stage.process(0.0, frame)
        assert truth["facing"] - 1 <= len(obs.faces) <= truth["students"]
        posed = [f.attentive for f in obs.faces if f.attentive is not None]
        assert len(posed) >= len(obs.faces) - 1 and sum(posed) >= 0.8 * len(posed)  # front-facing class
        v = stage.model_versions()
        assert v["faces"].startswith("cpface-") and v["pose_keypoints"].endswith("-crop")
    finally:
        stage.close()
