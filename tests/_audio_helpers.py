"""Generated classroom audio for the audio tests (espeak-ng voices + seeded noise), cached per session."""

from __future__ import annotations

import functools

import numpy as np

from edge_agent.audio.synth import SR, Line, fan_noise, mix_at_snr, pink_noise, render

LINES = [
    Line("teacher", "en-us+m3", "Good morning. Please open your books to page twelve.", 0.0, 1.0, 150, 35),
    Line("student", "en-us+f3", "Which exercise should we do first?", 1.5, 0.5, 165, 70),
    Line("teacher", "cmn", "先做第一题，二分之一加四分之一。", 2.0, 1.0, 145, 35),
    Line("student", "cmn+f4", "等于四分之三。", 2.5, 0.5, 160, 75),
    Line("teacher", "en-us+m3", "Very good. Now try the next one.", 1.0, 1.0, 150, 35),
]


@functools.lru_cache(maxsize=4)
def noisy_lesson(snr_db: float = 10.0, seconds: float = 24.0, seed: int = 3):
    """(samples, scene) — speech with fan + pink noise at ``snr_db``."""
    scene = render(LINES, seconds)
    rng = np.random.default_rng(seed)
    n = len(scene.clean)
    bg = 0.7 * fan_noise(n, rng) + 0.7 * pink_noise(n, rng)
    return mix_at_snr(scene.clean, scene.speech, bg, snr_db), scene


def chunks(x: np.ndarray, chunk_s: float = 0.5):
    n = int(chunk_s * SR)
    for i in range(0, len(x), n):
        yield i / SR, x[i:i + n]
