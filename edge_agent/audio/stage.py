"""The audio stage: samples → voice activity, teacher mask, overlap, tone mix, quality flags.

Overlap/crosstalk (edge_agent/audio/overlap.py): two or more voices at once, per
VAD frame inside speech, from pitch cues. Off by default (``vad.overlap: false``,
``overlap_share`` null) because it fails on audio unlike its training scenes
(bench/README.md, Audio); when switched on it also runs in ``no-emotion`` (it is
not emotion) and never loads the tone stack.

Nothing is recorded: each chunk is reduced to 10 ms booleans and (in policy
``full``) a tone probability vector; the only samples held across calls are the
< 32 ms VAD remainder and at most ``tone_min_speech_s`` of speech waiting for
one tone prediction, both dropped at ``reset_window``. In ``no-emotion`` and
``off`` the tone model is never imported or loaded.
"""

from __future__ import annotations

import logging

import numpy as np

from calibration.profile import RoomCalibration
from edge_agent.audio.overlap import OverlapDetector, OverlapModel
from edge_agent.audio.talk import teacher_by_level
from edge_agent.audio.vad import FRAME, SR, Vad
from edge_agent.config import AgentConfig, VadConfig
from edge_agent.observations import AudioObservation

log = logging.getLogger(__name__)

CLIP_LEVEL = 0.999
SILENT_DBFS = -70.0
DC_LIMIT = 0.05


def audio_quality(samples: np.ndarray) -> frozenset[str]:
    """Contract quality flags for one chunk: silent, clipped, dc_offset."""
    flags = set()
    if samples.size == 0:
        return frozenset({"silent"})
    if np.mean(np.abs(samples) >= CLIP_LEVEL) > 0.001:
        flags.add("clipped")
    mean = float(samples.mean())
    if abs(mean) > DC_LIMIT:
        flags.add("dc_offset")
    if 20 * np.log10(np.sqrt(np.mean((samples.astype(np.float64) - mean) ** 2)) + 1e-12) < SILENT_DBFS:
        flags.add("silent")
    return frozenset(flags)


def audio_calibration(calibration: RoomCalibration | dict | None) -> dict:
    """The ``audio`` section of a room calibration (or the dict itself if it is flat)."""
    if not calibration:
        return {}
    if isinstance(calibration, RoomCalibration):
        return calibration.audio.model_dump(exclude_none=True)
    sec = calibration.get("audio", calibration)
    return sec if isinstance(sec, dict) else {}


def load_tone_classifier(manifest_path: str | None, threads: int):  # noqa: ANN201 - optional dependency
    """The project's tone model, or None with a log line when it is not available."""
    try:
        from edge_agent.audio.tone import ToneClassifier
    except ImportError as e:
        log.warning("tone model not available: %s", e)
        return None
    try:
        return ToneClassifier(manifest_path=manifest_path, threads=threads)
    except Exception as e:  # noqa: BLE001 - a missing/broken model must not stop talk-time sensing
        log.warning("tone model not available: %s", e)
        return None


def load_overlap_detector(manifest_path: str | None) -> OverlapDetector | None:
    """The crosstalk estimator, or None with a log line when its model file is missing or altered."""
    try:
        return OverlapDetector(OverlapModel.from_manifest(manifest_path))
    except Exception as e:  # noqa: BLE001 - a missing model must not stop talk-time sensing
        log.warning("overlap model not available: %s", e)
        return None


class AudioPipelineStage:
    """Implements edge_agent.stages.AudioStage."""

    def __init__(self, cfg: AgentConfig, calibration: RoomCalibration | dict | None = None):
        self.cfg = cfg
        v: VadConfig = cfg.vad
        cal = audio_calibration(calibration)
        floor = cal.get("noise_floor_dbfs", v.noise_floor_dbfs)
        self.vad = Vad(threshold=v.threshold, neg_threshold=v.neg_threshold, min_silence_ms=v.min_silence_ms,
                       min_speech_ms=v.min_speech_ms, gate_db=v.gate_db, stay_gate_db=v.stay_gate_db,
                       noise_floor_dbfs=floor, engine=v.engine, threads=cfg.models.threads,
                       level_target_dbfs=v.level_target_dbfs, max_gain_db=v.max_gain_db)
        teacher = cal.get("teacher") or {}
        self.teacher_level = teacher.get("level_dbfs")
        self.teacher_margin = float(teacher.get("margin_db", 3.0))
        manifest = str(cfg.models.manifest) if cfg.models.manifest else None
        self.overlap_wanted = v.overlap
        self.overlap = load_overlap_detector(manifest) if v.overlap else None
        self.tone = None
        if cfg.policy == "full":
            self.tone = load_tone_classifier(manifest, cfg.models.threads)
        self._tone_buf: list[np.ndarray] = []
        self._tone_len = 0
        self.tone_min = int(v.tone_min_speech_s * SR)

    def process(self, ts: float, samples: np.ndarray, sample_rate: int) -> AudioObservation:
        x = np.asarray(samples, dtype=np.float32)
        if sample_rate != SR:  # the source resamples; this guards direct callers
            import soxr

            x = soxr.resample(x, sample_rate, SR).astype(np.float32)
        x = np.clip(np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0)
        quality = audio_quality(x)
        x = x - x.mean()  # DC offset must not look like loudness
        speech, db = self.vad(x)
        teacher = None
        if self.teacher_level is not None:
            teacher = teacher_by_level(speech, db, float(self.teacher_level), self.teacher_margin)
        overlap = self.overlap(x, speech, db) if self.overlap is not None else None
        tone, weight = self._tone(x, speech)
        return AudioObservation(ts=ts, duration_s=len(x) / SR, speech=speech, frame_s=FRAME / SR, tone=tone,
                                tone_weight=weight, teacher=teacher, overlap=overlap, quality=quality)

    def _tone(self, x: np.ndarray, speech: np.ndarray) -> tuple[np.ndarray | None, float]:
        """Collect speech until ``tone_min_speech_s``, then predict once and drop the samples."""
        if self.tone is None or not speech.any():
            return None, 0.0
        n = min(len(x) // FRAME, len(speech))  # equal unless chunks are not multiples of 10 ms
        voiced = x[: n * FRAME].reshape(n, FRAME)[speech[:n]].reshape(-1)
        self._tone_buf.append(voiced.copy())
        self._tone_len += len(voiced)
        if self._tone_len < self.tone_min:
            return None, 0.0
        seg = np.concatenate(self._tone_buf)
        self._tone_buf, self._tone_len = [], 0
        probs = np.asarray(self.tone.predict(seg), dtype=np.float64)
        return probs, len(seg) / SR

    def reset_window(self) -> None:
        self._tone_buf, self._tone_len = [], 0

    def model_versions(self) -> dict[str, str]:
        out = {"vad": self.vad.version}
        if self.overlap_wanted:
            out["overlap"] = self.overlap.version if self.overlap else "unavailable"
        if self.cfg.policy == "full":
            out["tone"] = getattr(self.tone, "version", "unavailable") if self.tone else "unavailable"
        return out

    def close(self) -> None:
        self.reset_window()
        self.vad.reset()
        if self.overlap is not None:
            self.overlap.reset()
        self.tone = None

