"""First audio stage: energy voice activity against an adaptive noise floor.

The foundation slice; a noise-robust VAD, turn analysis and the tone model
deepen it. Works on 10–100 ms frames; keeps only a running noise-floor estimate.
"""

from __future__ import annotations

import numpy as np

from edge_agent.config import VadConfig
from edge_agent.observations import AudioObservation

CLIP_LEVEL = 0.999
SILENT_DBFS = -70.0


def frame_dbfs(samples: np.ndarray, frame_len: int) -> np.ndarray:
    n = len(samples) // frame_len
    if n == 0:
        return np.zeros(0)
    fr = samples[: n * frame_len].reshape(n, frame_len)
    rms = np.sqrt(np.mean(fr.astype(np.float64) ** 2, axis=1) + 1e-12)
    return 20 * np.log10(rms + 1e-12)


def audio_quality(samples: np.ndarray) -> frozenset[str]:
    flags = set()
    if samples.size == 0:
        return frozenset({"silent"})
    if np.mean(np.abs(samples) >= CLIP_LEVEL) > 0.001:
        flags.add("clipped")
    if abs(float(samples.mean())) > 0.05:
        flags.add("dc_offset")
    if 20 * np.log10(np.sqrt(np.mean(samples.astype(np.float64) ** 2)) + 1e-12) < SILENT_DBFS:
        flags.add("silent")
    return frozenset(flags)


class EnergyVadStage:
    def __init__(self, cfg: VadConfig):
        self.cfg = cfg
        self._floor = cfg.noise_floor_dbfs
        self._hang = 0

    def process(self, ts: float, samples: np.ndarray, sample_rate: int) -> AudioObservation:
        frame_len = int(sample_rate * self.cfg.frame_ms / 1000)
        quality = audio_quality(samples)
        x = samples - samples.mean()
        db = frame_dbfs(x, frame_len)
        speech = np.zeros(len(db), dtype=bool)
        for i, d in enumerate(db):
            floor = self._floor if self._floor is not None else d
            if d > floor + self.cfg.threshold_db_above_floor:
                speech[i] = True
                self._hang = self.cfg.hangover_frames
            elif self._hang > 0:
                speech[i] = True
                self._hang -= 1
            # slow rise, fast fall: the floor tracks the quiet parts of the room
            if self.cfg.noise_floor_dbfs is None:
                self._floor = d if self._floor is None else (
                    0.999 * self._floor + 0.001 * d if d > self._floor else 0.9 * self._floor + 0.1 * d)
        return AudioObservation(ts=ts, duration_s=len(samples) / sample_rate, speech=speech,
                                frame_s=self.cfg.frame_ms / 1000, quality=quality)

    def reset_window(self) -> None:
        pass

    def model_versions(self) -> dict[str, str]:
        return {"vad": "energy-1"}

    def close(self) -> None:
        pass
