"""The full-range face model decoded by us (LiteRT) answers as MediaPipe's graph does (issue #17).

Pure parts (anchors, letterbox, decode, weighted NMS) are checked against the graph's documented
options; the real model on sample frames must find the graph's faces, box for box.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.vision.blazeface import (
    INPUT_PX,
    FullRangeFaceDetector,
    Letterbox,
    anchors,
    decode,
    letterbox,
    to_letterbox,
    unletterbox,
    weighted_nms,
)
from edge_agent.vision.faces import TiledFaceDetector, iou


def test_anchors_are_a_48_by_48_grid_of_cell_centres_row_by_row():
    a = anchors()
    assert a.shape == (2304, 2)
    assert np.allclose(a[0], [0.5 / 48, 0.5 / 48]) and np.allclose(a[-1], [47.5 / 48, 47.5 / 48])
    assert np.allclose(a[1], [1.5 / 48, 0.5 / 48]), "x runs fastest, as SsdAnchorsCalculator lays them"
    assert np.allclose(a[48], [0.5 / 48, 1.5 / 48])
    assert np.allclose(np.diff(np.unique(a[:, 0])), 1 / 48)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 4000), st.integers(1, 4000),
       st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=8))
def test_letterbox_removal_inverts_the_letterbox(w, h, pts):
    lb = Letterbox.of(w, h)
    p = np.array(pts, np.float32)
    back = unletterbox(to_letterbox(p, lb), lb)
    assert np.allclose((back - p) * [w, h], 0, atol=1e-5 * max(w, h)), "float32: exact to a 1e-5 of the side"
    t = to_letterbox(np.array([[0, 0], [1, 1]], np.float32), lb)  # the image sits centred in the square
    assert np.allclose(t[0], 1 - t[1], atol=1e-5)
    assert np.isclose(t[1, 0] - t[0, 0], w / max(w, h), atol=1e-5)
    assert np.isclose(t[1, 1] - t[0, 1], h / max(w, h), atol=1e-5)


def test_letterbox_pads_with_zero_pixels_and_scales_to_minus_one_one():
    white = np.full((100, 200, 3), 255, np.uint8)  # wide: padding above and below
    x, lb = letterbox(white)
    assert x.shape == (1, INPUT_PX, INPUT_PX, 3) and x.dtype == np.float32
    assert (lb.x0, lb.y0, lb.side) == (0.0, -50.0, 200.0)
    assert np.allclose(x[0, :40], -1.0) and np.allclose(x[0, -40:], -1.0), "padding is pixel 0"
    assert np.allclose(x[0, 60:130], 1.0), "the image fills the middle half"


def test_decode_places_boxes_and_keypoints_on_their_anchor_and_drops_low_scores():
    a = anchors()
    raw = np.zeros((len(a), 16), np.float32)
    logits = np.full(len(a), -1e4, np.float32)  # clipped to -100: score 0, no overflow
    i = 48 * 10 + 20
    raw[i, :4] = [19.2, -9.6, 38.4, 19.2]  # dx, dy, w, h in input pixels
    raw[i, 4:6] = [0.0, 9.6]
    logits[i] = 2.0
    logits[i + 1] = -2.0  # score 0.12: under the threshold
    boxes, scores, kps = decode(raw, logits, a, min_score=0.5)
    assert boxes.shape == (1, 4) and kps.shape == (1, 6, 2)
    cx, cy = a[i] + [0.1, -0.05]
    assert np.allclose(boxes[0], [cx - 0.1, cy - 0.05, 0.2, 0.1], atol=1e-6)
    assert np.isclose(scores[0], 1 / (1 + np.exp(-2.0)))
    assert np.allclose(kps[0, 0], a[i] + [0.0, 0.05]) and np.allclose(kps[0, 1:], a[i])
    assert decode(raw, np.full(len(a), 1e4, np.float32), a, 0.5)[1].max() == 1.0, "clipped, not NaN"


def test_weighted_nms_blends_each_cluster_by_score_and_keeps_the_best_score():
    boxes = np.array([[0.1, 0.1, 0.2, 0.2], [0.12, 0.1, 0.2, 0.2], [0.6, 0.6, 0.1, 0.1]], np.float32)
    scores = np.array([0.6, 0.9, 0.7], np.float32)
    kps = np.repeat(boxes[:, None, :2], 6, axis=1)
    b, s, k = weighted_nms(boxes, scores, kps)
    assert np.allclose(s, [0.9, 0.7]), "best first; the cluster keeps its best score"
    xmin = (0.1 * 0.6 + 0.12 * 0.9) / 1.5
    assert np.allclose(b[0], [xmin, 0.1, 0.2, 0.2], atol=1e-6) and np.allclose(k[0, :, 0], xmin)
    assert np.allclose(b[1], boxes[2])
    empty = weighted_nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 6, 2), np.float32))
    assert [len(x) for x in empty] == [0, 0, 0]


@pytest.fixture(scope="module")
def frames(samples_dir):
    cap = cv2.VideoCapture(str(samples_dir / "classroom.mp4"))
    out = []
    for i in range(160):
        ok, f = cap.read()
        assert ok
        if i in (0, 150):
            out.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
    cap.release()
    return out


def test_the_model_file_has_the_outputs_we_decode(frames):
    det = FullRangeFaceDetector()
    raw_boxes, raw_scores, lb = det.raw(frames[0])
    assert raw_boxes.shape == (2304, 16) and raw_scores.shape == (2304,)
    assert (lb.width, lb.height) == frames[0].shape[1::-1]
    assert det.runtime in ("ai_edge_litert", "tflite_runtime")
    det.close()


def test_litert_finds_the_faces_the_mediapipe_graph_finds(frames):
    """Same tiles, same refinement: counts within one and every graph face matched at IoU > 0.9."""
    dets = {b: TiledFaceDetector(refine=True, backend=b) for b in ("litert", "mediapipe")}
    assert "-litert-tiles-" in dets["litert"].version and "-graph-tiles-" in dets["mediapipe"].version
    for rgb in frames:
        lt, mp_ = (dets[b].detect(rgb) for b in ("litert", "mediapipe"))
        assert len(mp_) >= 20, "the sample room has ~30 students"
        assert abs(len(lt) - len(mp_)) <= 1
        for g in mp_:
            best = max(lt, key=lambda d: iou(d.box, g.box))
            assert iou(best.box, g.box) > 0.9 and abs(best.score - g.score) < 0.01
            assert np.allclose(best.keypoints, g.keypoints, atol=2.0)
    for d in dets.values():
        d.close()
