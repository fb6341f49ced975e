"""``edge-agent eval faces`` scoring (edge_agent/evaluation/faces.py): recall overall and by face size, precision,
one-to-one matching, and several detector settings interleaved over one pass of the images — without a model."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from edge_agent.evaluation import faces as ev
from edge_agent.vision.faces import Detection

# Ground truth of one synthetic image (x, y, w, h): the face size is the box width.
GTS = [(0, 0, 10, 10),          # below 16 px: not counted in recall
       (100, 0, 20, 20),        # 16-31, found
       (200, 0, 20, 20),        # 16-31, missed (its detection is off by IoU 0.14)
       (300, 0, 31.5, 31.5),    # 16-31 (31.5 < 32), missed
       (400, 0, 32, 32),        # 32-63, found
       (500, 0, 63, 63),        # 32-63, found
       (0, 200, 64, 64),        # >=64, missed
       (100, 200, 120, 120)]    # >=64, found
DETS = [(1, 1, 10, 10), (101, 1, 20, 20), (215, 0, 20, 20), (402, 0, 32, 32), (500, 3, 63, 63),
        (105, 205, 120, 120), (900, 900, 30, 30)]
# 16-31: 1/3, 32-63: 2/2, >=64: 1/2; overall 4/7; precision: 5 of 7 detections match a box (the 10 px one too)
BY_SIZE = {"16-31": 0.3333, "32-63": 1.0, ">=64": 0.5}
N_BY_SIZE = {"16-31": 3, "32-63": 2, ">=64": 2}


def test_size_buckets_follow_the_width_the_min_face_rule_reads():
    assert ev.size_bucket(15.9) is None and ev.size_bucket(ev.MIN_FACE_PX) == "16-31"
    assert ev.size_bucket(31.99) == "16-31" and ev.size_bucket(32) == "32-63"
    assert ev.size_bucket(63.9) == "32-63" and ev.size_bucket(64) == ">=64" and ev.size_bucket(4000) == ">=64"


def test_tally_gives_recall_by_size_with_counts_and_keeps_the_overall_numbers():
    t = ev.Tally()
    t.add([tuple(map(float, d)) for d in DETS], [tuple(map(float, g)) for g in GTS], 0.010)
    r = t.result()
    assert r["n_faces"] == 7 and r["recall"] == pytest.approx(4 / 7, abs=1e-4)
    assert r["precision"] == pytest.approx(5 / 7, abs=1e-4)
    assert r["recall_by_size"] == BY_SIZE and r["n_faces_by_size"] == N_BY_SIZE
    assert sum(r["n_faces_by_size"].values()) == r["n_faces"]
    assert r["ms_per_image"] == 10.0 and r["n_images"] == 1


def test_a_bucket_without_faces_has_no_recall():
    t = ev.Tally()
    t.add([], [(0.0, 0.0, 40.0, 40.0)])
    r = t.result()
    assert r["recall_by_size"] == {"16-31": None, "32-63": 0.0, ">=64": None}
    assert r["n_faces_by_size"] == {"16-31": 0, "32-63": 1, ">=64": 0} and r["precision"] is None


class _FakeDetector:
    """Stands in for TiledFaceDetector: image k (all pixels = k) gets ``ANSWERS[k]``; records its calls."""

    ANSWERS = {1: DETS, 2: []}
    calls: list[str] = []

    def __init__(self, grids, overlap=0.2, min_confidence=0.6, refine=False, backend="litert",  # noqa: ANN001
                 flip=True):  # noqa: ANN001
        self.grids, self.refine, self.backend = [tuple(g) for g in grids], refine, backend
        self.version = f"fake-{backend}-{'+'.join(f'{c}x{r}' for c, r in self.grids)}"

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        _FakeDetector.calls.append(self.version)
        return [Detection(tuple(map(float, b)), 0.9) for b in self.ANSWERS[int(rgb[0, 0, 0])]]

    def close(self) -> None:
        pass


@pytest.fixture()
def tiny_set(tmp_path, monkeypatch):
    monkeypatch.setattr(ev, "TiledFaceDetector", _FakeDetector)
    _FakeDetector.calls = []
    for k in (1, 2):
        cv2.imwrite(str(tmp_path / f"im{k}.png"), np.full((700, 1000, 3), k, np.uint8))
    gt = {"im1.png": [list(g) for g in GTS], "im2.png": [[10, 10, 40, 40]]}  # im2: one 32-63 face, missed
    (tmp_path / "gt.json").write_text(json.dumps(gt), encoding="utf-8")
    return tmp_path


def test_run_keeps_the_eval_interface_and_adds_recall_by_size(tiny_set):
    r = ev.run(tiny_set, tiny_set / "gt.json", grids=[(1, 1)], refine=False, backend="litert")
    assert {"n_faces", "recall", "precision", "ms_per_image"} <= set(r)
    assert r["n_faces"] == 8 and r["recall"] == 0.5 and r["precision"] == pytest.approx(5 / 7, abs=1e-4)
    assert r["recall_by_size"] == {"16-31": 0.3333, "32-63": 0.6667, ">=64": 0.5}
    assert r["n_faces_by_size"] == {"16-31": 3, "32-63": 3, ">=64": 2} and r["n_images"] == 2
    assert r["grids"] == [[1, 1]] and r["refine"] is False and r["backend"] == "litert"


def test_run_variants_scores_each_setting_and_rotates_which_runs_first(tiny_set):
    out = ev.run_variants(tiny_set, tiny_set / "gt.json",
                          {"a": {"grids": [(1, 1)], "backend": "mediapipe"},
                           "b": {"grids": [(1, 1), (3, 3)], "backend": "litert"}})
    assert list(out) == ["a", "b"] and out["a"]["backend"] == "mediapipe" and out["b"]["grids"] == [[1, 1], [3, 3]]
    assert out["a"]["recall_by_size"] == out["b"]["recall_by_size"] == {"16-31": 0.3333, "32-63": 0.6667, ">=64": 0.5}
    assert _FakeDetector.calls == ["fake-mediapipe-1x1", "fake-litert-1x1+3x3",   # image 1: a first
                                   "fake-litert-1x1+3x3", "fake-mediapipe-1x1"]   # image 2: b first
