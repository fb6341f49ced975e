"""Voice-tone classifier: our TFLite model on utterance features (EmoDB classes, TONE_CLASSES order).

Loaded only in policy ``full``; in ``no-emotion`` nothing in this module is imported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_agent.audio.features import SR, utterance_features
from edge_agent.inference.manifest import model_entry
from edge_agent.inference.tflite import TFLiteRunner


class ToneClassifier:
    def __init__(self, manifest_path: Path | None = None, threads: int = 1):
        entry = model_entry("voice_tone", manifest_path)
        self.entry = entry
        self.version = f"voice-tone-{entry.version}"
        self.runner = TFLiteRunner(entry.verified_path(), threads)

    def predict(self, samples: np.ndarray, sample_rate: int = SR) -> np.ndarray:
        """Speech samples (float32 mono, 16 kHz, ≥ 0.3 s) → (7,) probabilities."""
        f = utterance_features(samples, sample_rate)[None]
        p = np.clip(self.runner.run(f)[0], 0, None)
        return p / max(float(p.sum()), 1e-9)
