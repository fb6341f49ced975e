"""models/voice/train.py: the babble test never plays a clip's own speaker, and babble lands at the asked SNR."""

from __future__ import annotations

import numpy as np
import pytest

SR = 16000


@pytest.fixture(scope="module")
def train(models_script):
    return models_script("voice/train.py")


def _tone(hz: float, seconds: float = 1.0) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * hz * np.arange(int(SR * seconds)) / SR)).astype(np.float32)


def _energy_at(x: np.ndarray, hz: float) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / SR)
    return float(spec[np.abs(f - hz) < 5].sum() / spec.sum())


def test_crosstalk_uses_only_other_speakers(train):
    freqs = [200.0, 450.0, 700.0, 950.0, 1300.0]  # one tone per speaker, two clips each
    audio = [_tone(f, s) for f in freqs for s in (0.8, 1.1)]
    spk = np.repeat(np.arange(len(freqs)).astype(str), 2)
    rng = np.random.default_rng(0)
    for i in range(len(audio)):
        b = train.crosstalk(audio, spk, i, rng)
        assert len(b) == len(audio[i])
        own = freqs[int(spk[i])]
        assert _energy_at(b, own) < 1e-3
        assert sum(_energy_at(b, f) for f in freqs if f != own) > 0.9


@pytest.mark.parametrize("snr_db", [5.0, 10.0, 15.0])
def test_with_babble_adds_the_track_at_the_asked_snr(train, snr_db):
    y = _tone(300.0, 1.5)
    track = np.random.default_rng(1).standard_normal(SR).astype(np.float32)  # shorter than y: it loops
    out = train.with_babble(y, snr_db, track, np.random.default_rng(2))
    noise = out - y
    assert out.dtype == np.float32 and len(out) == len(y)
    measured = 20 * np.log10(np.sqrt((y ** 2).mean()) / np.sqrt((noise ** 2).mean()))
    assert abs(measured - snr_db) < 0.01
