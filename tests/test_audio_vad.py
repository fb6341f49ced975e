"""VAD on generated audio: speech in fan/pink noise, pure noise, silence; better than the energy VAD."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.audio.synth import SR, fan_noise, pink_noise
from edge_agent.audio.vad import Vad, silero_model_path
from tests._audio_helpers import chunks, noisy_lesson

needs_silero = pytest.mark.skipif(silero_model_path() is None, reason="silero-vad wheel not installed")


def run(v: Vad, x: np.ndarray) -> np.ndarray:
    return np.concatenate([v(c - c.mean())[0] for _, c in chunks(x)])


def acc(mask: np.ndarray, ref: np.ndarray) -> float:
    k = min(len(mask), len(ref))
    return float(np.mean(mask[:k] == ref[:k]))


@needs_silero
def test_speech_in_noise_is_found_and_beats_energy_vad():
    x, scene = noisy_lesson(5.0)
    ours = run(Vad(), x)
    energy = run(Vad(engine="energy"), x)
    assert len(ours) == len(x) // 160
    a_ours, a_energy = acc(ours, scene.speech), acc(energy, scene.speech)
    assert a_ours >= 0.88, a_ours
    assert a_ours > a_energy, (a_ours, a_energy)
    assert abs(ours.sum() / scene.speech.sum() - 1) < 0.15


@needs_silero
def test_stationary_noise_alone_is_not_speech():
    rng = np.random.default_rng(1)
    n = 20 * SR
    x = (0.05 * fan_noise(n, rng) + 0.05 * pink_noise(n, rng)).astype(np.float32)
    assert run(Vad(), x).mean() < 0.03


def test_digital_silence_and_energy_fallback_flag():
    v = Vad(engine="energy")
    assert v.fallback and v.version == "energy-2"
    assert not run(v, np.zeros(5 * SR, np.float32)).any()


def test_chunk_sizes_do_not_change_frame_count():
    x, _ = noisy_lesson(10.0)
    v = Vad()
    sizes = [3001, 160, 8000, 517, 12345]
    out, i, k = [], 0, 0
    while i < len(x):
        n = sizes[k % len(sizes)]
        out.append(v(x[i:i + n])[0])
        i, k = i + n, k + 1
    assert sum(len(o) for o in out) == len(x) // 160
