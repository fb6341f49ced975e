"""Voice-tone features: finite, fixed-length for any audio the box may hand them; the SNR estimate tracks noise."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_agent.audio.features import (
    N_FEATURES,
    SNR_INDEX,
    SR,
    snr_estimate_db,
    trim_digital_silence,
    utterance_features,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(0, SR * 2), kind=st.sampled_from(["zeros", "noise", "clipped", "dc", "sine", "spikes"]),
       seed=st.integers(0, 2**16))
def test_features_are_finite_and_fixed_length_for_any_audio(n, kind, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    y = {"zeros": np.zeros(n), "noise": rng.standard_normal(n), "clipped": np.clip(5 * rng.standard_normal(n), -1, 1),
         "dc": np.full(n, 0.3), "sine": 0.5 * np.sin(2 * np.pi * 220 * t),
         "spikes": (rng.random(n) > 0.999).astype(float)}[kind].astype(np.float32)
    f = utterance_features(y)
    assert f.shape == (N_FEATURES,) and f.dtype == np.float32
    assert np.isfinite(f).all()


def test_snr_estimate_falls_as_noise_rises_and_is_the_last_feature():
    rng = np.random.default_rng(0)
    t = np.arange(SR * 2) / SR
    # a syllable-like on/off tone: loud bursts with real pauses between them
    speech = (0.5 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 2 * t) > 0.3)).astype(np.float32)
    levels = []
    for snr_db in (None, 20, 10):
        y = speech.copy()
        if snr_db is not None:
            noise = rng.standard_normal(len(y)).astype(np.float32)
            y += noise * np.sqrt((speech ** 2).mean() / (noise ** 2).mean()) / 10 ** (snr_db / 20)
        levels.append(snr_estimate_db(y))
        assert abs(utterance_features(y)[SNR_INDEX] - levels[-1]) < 0.5  # peak normalisation does not move it
    assert levels[0] > 40 > levels[1] > levels[2] > 5


def test_digital_silence_padding_is_trimmed_not_counted_as_pauses():
    y = np.r_[np.zeros(8000), 0.2 + 0.1 * np.sin(np.arange(16000) / 5.0), np.zeros(8000)].astype(np.float32)
    assert len(trim_digital_silence(y)) == 16000
    assert np.allclose(utterance_features(y), utterance_features(y[8000:24000]), atol=1e-4)
