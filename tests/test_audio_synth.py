"""Synthetic test audio: chatter through a wall vs in the same room (the voice-tone training's augmentation)."""

from __future__ import annotations

import numpy as np

from edge_agent.audio.synth import SR, babble

LINES = [("Open your books to page forty.", "en-us+m2"), ("我们一起检查第二题。", "cmn")]


def _share_above(x: np.ndarray, hz: float) -> float:
    p = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / SR)
    return float(p[f > hz].sum() / p.sum())


def test_next_room_babble_is_low_passed_and_same_room_babble_is_not():
    wall = babble(3 * SR, np.random.default_rng(1), LINES)
    room = babble(3 * SR, np.random.default_rng(1), LINES, lowpass_hz=None)
    for x in (wall, room):
        assert x.dtype == np.float32 and len(x) == 3 * SR
        assert abs(float(x.std()) - 1.0) < 1e-3
    assert _share_above(wall, 2000) < 0.01
    assert _share_above(room, 2000) > 10 * _share_above(wall, 2000)
