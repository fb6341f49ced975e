"""models/expression/train.py: distillation targets mix label and teacher as documented, and refuse a wrong teacher."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays


@pytest.fixture(scope="module")
def train(models_script):
    return models_script("expression/train.py")


def _teacher(tmp_path: Path, **arrays_: np.ndarray) -> np.lib.npyio.NpzFile:
    np.savez(tmp_path / "t.npz", **arrays_)
    return np.load(tmp_path / "t.npz")


probs = arrays(np.float64, (6, 7), elements=st.floats(0.001, 1.0)).map(
    lambda a: (a / a.sum(1, keepdims=True)).astype(np.float32))


@settings(max_examples=60, deadline=None)
@given(p=probs, t=st.floats(1.0, 5.0))
def test_soften_keeps_rows_normalised_and_ranked(train, p, t):
    q = train.soften(p, t)
    assert np.allclose(q.sum(1), 1.0, atol=1e-5)
    rows = np.arange(len(p))
    assert np.allclose(p[rows, q.argmax(1)], p.max(1))  # the teacher's top class stays on top
    # a higher temperature never sharpens: the top class loses share
    assert (q.max(1) <= p.max(1) + 1e-5).all()


def test_soften_at_one_is_identity(train):
    p = np.array([[0.7, 0.1, 0.05, 0.05, 0.04, 0.03, 0.03]], np.float32)
    assert np.allclose(train.soften(p, 1.0), p, atol=1e-6)


def test_targets_without_teacher_are_one_hot(train):
    y = np.array([0, 3, 6])
    x_extra, t, te, we = train.targets(y, None, 0.3, 2.0, np.ones(7))
    assert np.array_equal(t, np.eye(7, dtype=np.float32)[y])
    assert len(x_extra) == len(te) == len(we) == 0


def test_targets_mix_label_and_teacher(train, tmp_path):
    y = np.array([2, 2])
    p = np.full((2, 7), 0.01, np.float32)
    p[0, 4], p[1, 2] = 0.94, 0.94  # the teacher disagrees on the first face, agrees on the second
    _, t, _, _ = train.targets(y, _teacher(tmp_path, p_train=p), alpha=0.3, temperature=1.0, cw=np.ones(7))
    assert np.allclose(t.sum(1), 1.0, atol=1e-6)
    assert t[0, 2] == pytest.approx(0.3 + 0.7 * 0.01, abs=1e-5)
    assert t[0, 4] == pytest.approx(0.7 * 0.94, abs=1e-5)
    assert t[1].argmax() == 2


def test_targets_refuse_a_teacher_for_other_faces(train, tmp_path):
    with pytest.raises(SystemExit, match="p_train has shape"):
        train.targets(np.array([0, 1, 2]), _teacher(tmp_path, p_train=np.full((2, 7), 1 / 7)), 0.3, 2.0, np.ones(7))


def test_extra_faces_learn_from_the_teacher_weighted_by_its_class(train, tmp_path):
    y = np.array([0])
    pe = np.full((2, 7), 0.01, np.float32)
    pe[0, 1], pe[1, 3] = 0.94, 0.94
    cw = np.arange(1, 8, dtype=float)
    x_extra, _, te, we = train.targets(
        y, _teacher(tmp_path, p_train=np.full((1, 7), 1 / 7, np.float32), x_extra=np.zeros((2, 48, 48), np.uint8),
                    p_extra=pe), 0.3, 1.0, cw)
    assert x_extra.shape == (2, 48, 48)
    assert np.allclose(te, pe / pe.sum(1, keepdims=True), atol=1e-6)
    assert we.tolist() == [2.0, 4.0]


@settings(max_examples=40, deadline=None)
@given(snaps=st.lists(arrays(np.float32, (3, 2), elements=st.floats(-10, 10, width=32)), min_size=1, max_size=9))
def test_running_mean_is_the_mean_of_every_snapshot(train, snaps):
    """--swa-cycles ships the plain average of the cycle-end weights, whatever their number."""
    mean = None
    for n, w in enumerate(snaps, start=1):
        mean = train.running_mean(mean, [w, 2 * w], n)
    assert np.allclose(mean[0], np.mean(snaps, axis=0), atol=1e-4)
    assert np.allclose(mean[1], 2 * np.mean(snaps, axis=0), atol=1e-4)
