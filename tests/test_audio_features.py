"""Voice-tone features: finite, fixed-length for any audio the box may hand them; the SNR estimate tracks noise;
the decay estimate (the tone gate's reverberation cue) tells a reverberant room from a dry one."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_agent.audio.features import (
    DECAY_INDEX,
    N_FEATURES,
    SNR_INDEX,
    SR,
    decay_estimate_db,
    frame_levels_db,
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
        levels.append(snr_estimate_db(frame_levels_db(y)))
        assert abs(utterance_features(y)[SNR_INDEX] - levels[-1]) < 0.5  # peak normalisation does not move it
    assert levels[0] > 40 > levels[1] > levels[2] > 5


def test_digital_silence_padding_is_trimmed_not_counted_as_pauses():
    y = np.r_[np.zeros(8000), 0.2 + 0.1 * np.sin(np.arange(16000) / 5.0), np.zeros(8000)].astype(np.float32)
    assert len(trim_digital_silence(y)) == 16000
    assert np.allclose(utterance_features(y), utterance_features(y[8000:24000]), atol=1e-4)


def test_decay_estimate_sees_reverberation_that_the_snr_estimate_misses():
    rng = np.random.default_rng(1)
    t = np.arange(SR * 2) / SR
    dry = (0.5 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 1 * t) > 0.3)).astype(np.float32)
    n = int(SR * 0.6)  # a room with RT60 0.6 s, direct-to-reverberant -3 dB (as in models/voice/train.py)
    tail = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)
    tail *= 10 ** (3 / 20) / np.sqrt((tail ** 2).sum())
    wet = np.convolve(dry, np.r_[1.0, np.zeros(80), tail])[: len(dry)].astype(np.float32)
    assert snr_estimate_db(frame_levels_db(wet)) > 30  # clean-like SNR: the SNR half of the gate would keep the studio head
    # on/off tone: the dry level falls ~100 dB at once; the room's tail caps the fall (EmoDB speech: median
    # -31 dB dry, -9 dB at RT60 0.6 s; this synthetic tone -16 dB)
    assert decay_estimate_db(frame_levels_db(dry)) < -40 and -20 < decay_estimate_db(frame_levels_db(wet)) <= 0
    f_dry, f_wet = utterance_features(dry), utterance_features(wet)
    assert abs(f_dry[DECAY_INDEX] - decay_estimate_db(frame_levels_db(dry))) < 0.5 and abs(f_wet[DECAY_INDEX] - decay_estimate_db(frame_levels_db(wet))) < 0.5
