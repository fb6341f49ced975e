"""Voice activity on 10 ms frames: Silero VAD (ONNX) + hysteresis + a noise-floor gate.

Why this design (measured, see bench/README.md "Audio"): Silero's neural VAD
keeps its accuracy in stationary fan/HVAC noise where webrtcvad and energy VAD
fail; its weakness in a classroom is next-room babble and low-SNR pauses, which
it scores as speech. Two cheap additions fix most of that: hysteresis (enter
above ``threshold``, leave after ``min_silence_ms`` below ``neg_threshold``) and
an energy gate that requires a frame to stand ``gate_db`` above the running
noise floor (the room's quiet level, from calibration or a running percentile),
because chatter from the next room arrives attenuated.

Silero's score depends on the absolute level: soft, low-arousal voices at a
modest microphone gain are scored late and low (measured: talk time −9 to −11 %
at 10 dB SNR, bench/README.md "Soft speech"). So Silero sees the signal
level-normalised: a running high percentile of frame energy (the loud end of
recent speech) is raised to ``level_target_dbfs``, by at most ``max_gain_db``
and never lowered. The gates keep using the raw frame energy, so the noise
gate's meaning does not change with the gain.

The model file is loaded from the installed ``silero-vad`` wheel (MIT) with
onnxruntime only; the package itself (which imports torch) is never imported
and nothing is downloaded at run time. Without it the energy VAD is used and
the observation is flagged ``vad_fallback``.
"""

from __future__ import annotations

import importlib.util
import os
from collections import deque

import numpy as np

from edge_agent.audio.talk import drop_short

SR = 16000
FRAME = 160  # 10 ms
WIN = 512  # Silero window at 16 kHz (32 ms)
CTX = 64  # Silero v5 context samples prepended to each window


def silero_model_path() -> str | None:
    """Path of ``silero_vad.onnx`` inside the installed wheel, without importing the package."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = os.path.join(loc, "data", "silero_vad.onnx")
        if os.path.exists(p):
            return p
    return None


def frame_db(x: np.ndarray) -> np.ndarray:
    """dBFS of each complete 10 ms frame."""
    n = len(x) // FRAME
    fr = x[: n * FRAME].reshape(n, FRAME).astype(np.float64)
    return 10 * np.log10(np.mean(fr * fr, axis=1) + 1e-12)


class SileroProb:
    """Streaming Silero speech probability per 32 ms window (state carried across chunks)."""

    version = "silero-vad-5.1.2-onnx"

    def __init__(self, model_path: str, threads: int = 1):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        self._sess = ort.InferenceSession(model_path, sess_options=so, providers=["CPUExecutionProvider"])
        self._sr = np.array(SR, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), np.float32)
        self._ctx = np.zeros(CTX, np.float32)

    def __call__(self, win: np.ndarray) -> float:
        x = np.concatenate([self._ctx, win]).astype(np.float32)[None, :]
        out, self._state = self._sess.run(None, {"input": x, "state": self._state, "sr": self._sr})
        self._ctx = x[0, -CTX:]
        return float(out[0, 0])


class NoiseFloor:
    """Running low percentile of frame energy over the last ``span_s`` seconds (the room's quiet level)."""

    def __init__(self, initial_db: float | None, span_s: float = 20.0, pct: float = 10.0):
        self.fixed = initial_db
        self._hist: deque[float] = deque(maxlen=int(span_s * 100 / 5))  # every 5th frame
        self._k = 0
        self.pct = pct

    def update(self, db: np.ndarray) -> None:
        for d in db[(self._k - np.arange(len(db))) % 5 == 0]:
            self._hist.append(float(d))
        self._k = (self._k + len(db)) % 5

    @property
    def db(self) -> float | None:
        if len(self._hist) >= 50:
            est = float(np.percentile(np.fromiter(self._hist, float), self.pct))
            # calibration gives the empty-room level; a louder running level means the room got noisier
            return est if self.fixed is None else max(self.fixed, est)
        return self.fixed


class Vad:
    """Chunk-by-chunk VAD giving one bool per 10 ms frame (``len(samples) // 160`` per call, remainder carried)."""

    def __init__(self, threshold: float = 0.5, neg_threshold: float = 0.35, min_silence_ms: int = 100,
                 min_speech_ms: int = 60, gate_db: float = 10.0, stay_gate_db: float = 3.5, noise_floor_dbfs: float | None = None,
                 engine: str = "silero", threads: int = 1, level_target_dbfs: float | None = -8.0, max_gain_db: float = 18.0):
        self.threshold, self.neg_threshold = threshold, neg_threshold
        self.hang_frames = max(0, min_silence_ms // 10)
        self.min_speech_frames = max(1, min_speech_ms // 10)
        self.gate_db, self.stay_gate_db = gate_db, stay_gate_db
        self.floor = NoiseFloor(noise_floor_dbfs)
        self.level_target_dbfs, self.max_gain_db = level_target_dbfs, max_gain_db
        self.level = NoiseFloor(None, pct=95.0)  # the same running percentile, at the loud end
        self.model: SileroProb | None = None
        self.fallback = False
        path = silero_model_path() if engine == "silero" else None
        if path is not None:
            try:
                self.model = SileroProb(path, threads)
            except Exception:  # noqa: BLE001 - a broken runtime must not stop the box; flagged
                self.model = None
        self.fallback = self.model is None
        self._pend = np.zeros(0, np.float32)  # < 32 ms not yet scored (not audio storage: dropped next call)
        self._fpend = np.zeros(0, np.float32)  # < 10 ms not yet framed
        self._p = 0.0
        self._on = False
        self._hang = 0

    @property
    def version(self) -> str:
        return self.model.version if self.model else "energy-2"

    def reset(self) -> None:
        self.level = NoiseFloor(None, pct=95.0)
        if self.model:
            self.model.reset()
        self._pend = np.zeros(0, np.float32)
        self._fpend = np.zeros(0, np.float32)
        self._p, self._on, self._hang = 0.0, False, 0

    def probs(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(speech probability, dBFS) per 10 ms frame of ``x`` (after the remainder carried in)."""
        buf = np.concatenate([self._fpend, x])
        nf = len(buf) // FRAME
        self._fpend = buf[nf * FRAME:].copy()
        db = frame_db(buf[: nf * FRAME])
        out = np.empty(nf, np.float32)
        if self.model is None:
            floor = self.floor.db if self.floor.db is not None else (np.percentile(db, 10) if nf else -60.0)
            out[:] = np.clip((db - floor - 6.0) / 6.0, 0, 1)  # ≥12 dB above floor → 1
            return out, db
        # Silero windows advance in 512-sample steps; each 10 ms frame takes the newest finished window's score.
        g = self.silero_gain(db)
        wbuf = np.concatenate([self._pend, np.clip(buf[: nf * FRAME] * g, -1.0, 1.0) if g != 1.0 else buf[: nf * FRAME]])
        nw = len(wbuf) // WIN
        probs = [self.model(wbuf[i * WIN:(i + 1) * WIN]) for i in range(nw)]
        self._pend = wbuf[nw * WIN:].copy()
        # frame j (of this call) ends at sample offset len(old_pend)+ (j+1)*160 in wbuf coordinates
        old = len(wbuf) - nf * FRAME
        ends = old + (np.arange(nf) + 1) * FRAME
        widx = (ends // WIN) - 1  # last window fully finished at the frame's end
        prev = self._p
        for j in range(nf):
            out[j] = probs[widx[j]] if widx[j] >= 0 and nw else prev
        if nw:
            self._p = probs[-1]
        return out, db

    def silero_gain(self, db: np.ndarray) -> float:
        """Linear gain for Silero's input: lifts the running loud-end level to the target (1.0 when off)."""
        if self.level_target_dbfs is None:
            return 1.0
        self.level.update(db)
        level = self.level.db
        if level is None:  # the first seconds: the room's level is not known yet, so nothing is lifted
            return 1.0
        return float(10 ** (min(max(self.level_target_dbfs - level, 0.0), self.max_gain_db) / 20))

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(speech mask, frame dB) for ``x`` (float32 mono 16 kHz, DC removed)."""
        p, db = self.probs(x)
        floor = self.floor.db
        ones = np.ones(len(p), bool)
        gate = (db > floor + self.gate_db) if floor is not None else ones
        stay = (db > floor + self.stay_gate_db) if floor is not None else ones
        mask = np.zeros(len(p), bool)
        for j in range(len(p)):
            if self._on:
                if p[j] < self.neg_threshold or not stay[j]:
                    self._hang -= 1
                    if self._hang < 0:
                        self._on = False
                else:
                    self._hang = self.hang_frames
            elif p[j] >= self.threshold and gate[j]:
                self._on, self._hang = True, self.hang_frames
            mask[j] = self._on
        self.floor.update(db)
        return drop_short(mask, self.min_speech_frames), db
