"""Overlap/crosstalk per 10 ms VAD frame: two or more voices at once, from cheap pitch cues.

Why these cues: one voice is (mostly) one harmonic series; two voices are two.
Per frame (64 ms Hann window, 10 ms hop, computed only inside detected speech):

* multi-pitch salience — subharmonic summation (SHS) over 60–400 Hz on a
  whitened magnitude spectrum; the strongest pitch's harmonics are cancelled and
  SHS is taken again: second salience / first. High when a second harmonic
  series is present;
* harmonicity — peak of the normalised autocorrelation in the pitch-lag range
  (a mixture of two pitches is less periodic than either);
* spectral flatness (100 Hz – 4 kHz);
* de Cheveigné's cancellation — subtract the signal delayed by the strongest
  period: how much energy is left, and how periodic the remainder still is
  (a second voice) rather than noise;
* level relative to the recent speech median (two voices add energy);
* pitch jumps — the dominant pitch toggles between talkers.

These are averaged over ~310 ms of speech around each frame (plus a ~1 s causal
running mean, and their deviation from the last 10 s of speech) and scored by a
one-hidden-layer network (40 → 16 → 1, NumPy forward pass) in
``models/overlap/overlap_mlp.npz``, fitted by ``bench/train_overlap.py`` on
generated scenes (model card: ``models/overlap/MODEL_CARD.md``).

How good it is, and why the stage keeps it off by default: docs/audio.md.

Nothing is recorded: features are taken from the chunk in hand (edges reflected,
no samples carried over). Kept between chunks, numbers only: the last ``CONTEXT``
frames' cues, the last 10 s of speech frames' levels and cue values (no pitch
track) and one running-mean row. NumPy/SciPy only (no librosa), so the
``no-emotion`` policy stays free of the tone stack.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import numpy as np

SR = 16000
FRAME = 160
WIN = 1024  # 64 ms: resolves two pitches ~30 Hz apart
NFFT = 2048
FMAX_SHS = 2000.0
F0_MIN, F0_MAX = 60.0, 400.0
N_HARM = 10
CONTEXT = 15  # frames each side for the context average (31 frames ≈ 310 ms)
LEVEL_SPAN = 1000  # speech frames for the running medians of level and cues (10 s of speech)

_CUES = ("salience_ratio", "pitch2_prominence", "pitch1_prominence", "residual", "harmonicity", "log_flatness",
         "cancel_residual_db", "residual_periodicity")
CONTEXT_NAMES = (*_CUES, "rel_level_db", "level_std_db", "pitch_std_st", "pitch_jump_rate",
                 *(f"{c}_vs_recent" for c in _CUES))
FEATURE_NAMES = (*CONTEXT_NAMES, *(f"{c}_1s" for c in CONTEXT_NAMES))  # ~310 ms centred, then a ~1 s running mean
EMA_FRAMES = 50  # time constant of the running mean, in speech frames

MODEL_NAME = "overlap"  # entry in models/manifest.json (models/overlap/overlap_mlp.npz)


def _shs_matrix() -> tuple[np.ndarray, np.ndarray, int]:
    """(weights candidates×bins, candidate f0s, number of bins used)."""
    nb = int(FMAX_SHS / (SR / NFFT)) + 2
    f0s = F0_MIN * 2 ** (np.arange(0, np.log2(F0_MAX / F0_MIN) * 24 + 1) / 24)
    w = np.zeros((len(f0s), nb))
    for i, f0 in enumerate(f0s):
        for h in range(1, N_HARM + 1):
            b = h * f0 / (SR / NFFT)
            if b >= nb - 1:
                break
            k = int(b)
            frac = b - k
            w[i, k] += 0.84 ** (h - 1) * (1 - frac)
            w[i, k + 1] += 0.84 ** (h - 1) * frac
    return w, f0s, nb


_W, _F0S, _NB = _shs_matrix()
_WT = _W.T.astype(np.float32)
_HANN = np.hanning(WIN).astype(np.float32)
_HANN_S = np.hanning(WIN // 2).astype(np.float32)
_HANN_S_AC = np.fft.irfft(np.abs(np.fft.rfft(_HANN_S, WIN)) ** 2, WIN)[: WIN // 2]
_HANN_AC = np.fft.irfft(np.abs(np.fft.rfft(_HANN, NFFT)) ** 2, NFFT)[:WIN]
_BIN_HZ = np.arange(NFFT // 2 + 1) * SR / NFFT
_FLAT_BAND = (_BIN_HZ >= 100) & (_BIN_HZ <= 4000)
_LAG_MIN, _LAG_MAX = int(SR / F0_MAX), int(SR / F0_MIN)


N_FRAME_FEATS = 9  # the _CUES, then log2 f0 (for pitch jumps)


def frame_features(x: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Per-frame cues for the 10 ms frames ``frames`` of chunk ``x``: (len(frames), ``N_FRAME_FEATS``)."""
    out = np.zeros((len(frames), N_FRAME_FEATS))
    if len(frames) == 0:
        return out
    import scipy.fft

    x = np.asarray(x, dtype=np.float32)
    pad = WIN // 2 + _LAG_MAX  # room for the window and the cancellation delay: no index clipping
    xp = np.pad(x, pad, mode="reflect") if len(x) > pad else np.pad(x, pad)
    centres = frames * FRAME + FRAME // 2 + pad
    idx = centres[:, None] + np.arange(-WIN // 2, WIN // 2)[None, :]
    seg = xp[idx] * _HANN
    spec = scipy.fft.rfft(seg, NFFT, axis=1, workers=1)
    pw = spec.real ** 2 + spec.imag ** 2
    mag = np.sqrt(pw[:, :_NB])
    # whitening: divide by a ~150 Hz moving-average envelope so weak talkers' harmonics count
    k = 19
    cs = np.pad(np.cumsum(mag, axis=1), ((0, 0), (k // 2 + 1, k // 2)), mode="edge")
    cs[:, : k // 2 + 1] = 0
    env = (cs[:, k:] - cs[:, :-k]) / k + 1e-9
    s = np.sqrt(mag / env)
    shs = s @ _WT  # frames × candidates
    i1 = shs.argmax(axis=1)
    rows = np.arange(len(frames))
    s1 = shs[rows, i1]
    f1 = _F0S[i1]
    ratio = (_BIN_HZ[None, :_NB] / f1[:, None]).astype(np.float32)
    near = (np.abs(ratio - np.round(ratio)) * f1[:, None] < 1.6 * SR / NFFT) & (ratio >= 0.5)
    resid = s * ~near
    shs2 = resid @ _WT
    shs2[np.abs(np.log2(_F0S[None, :] / f1[:, None])) < 0.06] = 0  # not the same pitch again
    s2 = shs2.max(axis=1)
    out[:, 0] = s2 / (s1 + 1e-9)
    out[:, 1] = s2 / (shs2.mean(axis=1) + 1e-9)
    out[:, 2] = s1 / (shs.mean(axis=1) + 1e-9)
    out[:, 3] = resid.sum(axis=1) / (s.sum(axis=1) + 1e-9)
    ac = scipy.fft.irfft(pw.astype(np.complex64), NFFT, axis=1, workers=1)[:, :_LAG_MAX + 1] / _HANN_AC[None, : _LAG_MAX + 1]
    t1 = ac[:, _LAG_MIN:_LAG_MAX].argmax(axis=1) + _LAG_MIN
    out[:, 4] = ac[rows, t1] / (ac[:, 0] + 1e-12)
    band = pw[:, _FLAT_BAND] + 1e-12
    out[:, 5] = np.mean(np.log(band), axis=1) - np.log(np.mean(band, axis=1))
    # de Cheveigné's cancellation: remove the strongest period with a comb filter, then ask whether
    # what is left is still periodic (a second voice) or just noise
    # on the central 32 ms: the voice's period drifts too much over 64 ms for a clean cancellation
    mid = idx[:, WIN // 4: 3 * WIN // 4]
    raw = xp[mid]
    e = (raw - xp[mid - t1[:, None]]) * _HANN_S
    pr = np.abs(scipy.fft.rfft(raw * _HANN_S, WIN, axis=1, workers=1)) ** 2
    pe = np.abs(scipy.fft.rfft(e, WIN, axis=1, workers=1)) ** 2
    ace = scipy.fft.irfft(pe.astype(np.complex64), WIN, axis=1, workers=1)[:, :_LAG_MAX + 1] / _HANN_S_AC[None, : _LAG_MAX + 1]
    lags = np.arange(_LAG_MIN, _LAG_MAX)[None, :] / t1[:, None]
    related = np.abs(lags - np.round(lags)) < 0.04  # multiples of the cancelled period
    cand = np.where(related, -np.inf, ace[:, _LAG_MIN:_LAG_MAX])
    out[:, 6] = 10 * np.log10((pe.sum(axis=1) + 1e-12) / (pr.sum(axis=1) + 1e-12))
    out[:, 7] = cand.max(axis=1) / (ace[:, 0] + 1e-12)
    out[:, 8] = np.log2(f1)
    return out


def context_features(per_frame: np.ndarray, db: np.ndarray, speech: np.ndarray, level_ref: float,
                     cue_ref: np.ndarray) -> np.ndarray:
    """Average the per-frame cues over ±``CONTEXT`` speech frames → (n, len(CONTEXT_NAMES)).

    ``per_frame`` has a row for every frame (rows outside speech are ignored);
    ``level_ref``/``cue_ref`` are running medians over recent speech (the room's
    and talkers' usual values), so the deviations say "unlike this room's single talk".
    """
    n = len(speech)
    feats = np.zeros((n, len(CONTEXT_NAMES)))
    if n == 0 or not speech.any():
        return feats
    w = speech.astype(np.float64)
    ker = np.ones(2 * CONTEXT + 1)

    def box(v: np.ndarray) -> np.ndarray:  # centred sum over ±CONTEXT, same length as v (also when n < 31)
        return np.convolve(v, ker)[CONTEXT:CONTEXT + n]

    norm = np.maximum(box(w), 1.0)

    def avg(v: np.ndarray) -> np.ndarray:
        return box(v * w) / norm

    nc = N_FRAME_FEATS - 1
    for j in range(nc):
        feats[:, j] = avg(per_frame[:, j])
        feats[:, nc + 4 + j] = feats[:, j] - cue_ref[j]
    lvl = db - level_ref
    feats[:, nc] = avg(lvl)
    feats[:, nc + 1] = np.sqrt(np.maximum(avg(lvl ** 2) - feats[:, nc] ** 2, 0))
    st = 12 * per_frame[:, N_FRAME_FEATS - 1]
    m = avg(st)
    feats[:, nc + 2] = np.sqrt(np.maximum(avg(st ** 2) - m ** 2, 0))
    jump = np.zeros(n)
    jump[1:] = (np.abs(np.diff(st)) > 1.0) & speech[1:] & speech[:-1]
    feats[:, nc + 3] = avg(jump)
    return feats


class OverlapModel:
    """The fitted scorer: standardise → one ReLU hidden layer → logistic output (NumPy only).

    Arrays in the ``.npz`` (no pickles): ``mean``, ``scale``, ``w1``, ``b1``, ``w2``, ``b2``,
    ``threshold``, ``train_prior_share``, ``feature_names``, ``version``.
    """

    def __init__(self, arrays: dict[str, np.ndarray]):
        names = tuple(str(n) for n in arrays["feature_names"])
        if names != FEATURE_NAMES:
            raise ValueError("overlap model was trained on other features than overlap.py computes")
        self.mean, self.scale = arrays["mean"].astype(np.float64), arrays["scale"].astype(np.float64)
        self.w1, self.b1 = arrays["w1"].astype(np.float64), arrays["b1"].astype(np.float64)
        self.w2, self.b2 = arrays["w2"].astype(np.float64).reshape(-1), float(np.asarray(arrays["b2"]).reshape(-1)[0])
        self.threshold = float(arrays["threshold"])
        self.train_prior_share = float(arrays["train_prior_share"])
        self.version = str(arrays["version"])

    @classmethod
    def load(cls, path: str | Path) -> OverlapModel:
        with np.load(path, allow_pickle=False) as z:
            return cls({k: z[k] for k in z.files})

    @classmethod
    def from_manifest(cls, manifest_path: str | Path | None = None) -> OverlapModel:
        """The bundled model, refused if its sha256 does not match the manifest."""
        from edge_agent.inference.manifest import model_entry

        return cls.load(model_entry(MODEL_NAME, Path(manifest_path) if manifest_path else None).verified_path())

    def predict(self, feats: np.ndarray) -> np.ndarray:
        """Overlap probability per row of ``feats`` (n, len(FEATURE_NAMES))."""
        z = (np.nan_to_num(feats) - self.mean) / self.scale
        h = np.maximum(z @ self.w1 + self.b1, 0.0)
        logit = h @ self.w2 + self.b2
        return 1.0 / (1.0 + np.exp(-np.clip(logit, -30, 30)))


class OverlapDetector:
    """Streaming: chunk + its VAD mask and frame dB → bool overlap per frame (False outside speech).

    Context is centred inside the chunk and carries the previous ``CONTEXT``
    frames' cues (numbers, not samples) across the boundary.
    """

    def __init__(self, model: OverlapModel | None = None, threshold: float | None = None):
        self.model = model
        self.threshold = threshold if threshold is not None else (model.threshold if model else 0.5)
        self.reset()

    @property
    def version(self) -> str:
        return self.model.version if self.model else "unavailable"

    def reset(self) -> None:
        self._prev_pf = np.zeros((0, N_FRAME_FEATS))
        self._prev_db = np.zeros(0)
        self._prev_sp = np.zeros(0, bool)
        self._levels: deque[float] = deque(maxlen=LEVEL_SPAN)
        self._cues: deque[tuple[float, ...]] = deque(maxlen=LEVEL_SPAN)
        self._ema: np.ndarray | None = None  # last running-mean row (len(CONTEXT_NAMES) numbers)

    def features(self, x: np.ndarray, speech: np.ndarray, db: np.ndarray) -> np.ndarray:
        """Context features for this chunk's frames (rows outside speech are meaningless)."""
        n = min(len(speech), len(db), len(x) // FRAME)
        speech = np.asarray(speech[:n], bool)
        db = np.nan_to_num(np.asarray(db[:n], np.float64), nan=-120.0, posinf=0.0, neginf=-120.0)
        pf = np.zeros((n, N_FRAME_FEATS))
        idx = np.flatnonzero(speech)
        if idx.size:
            pf[idx] = frame_features(x, idx)
            self._levels.extend(db[idx].tolist())
            self._cues.extend(map(tuple, pf[idx, : N_FRAME_FEATS - 1].tolist()))
        level_ref = float(np.median(np.fromiter(self._levels, float))) if self._levels else -30.0
        cue_ref = np.median(np.array(self._cues), axis=0) if self._cues else np.zeros(N_FRAME_FEATS - 1)
        k = len(self._prev_sp)
        allpf = np.concatenate([self._prev_pf, pf])
        alldb = np.concatenate([self._prev_db, db])
        allsp = np.concatenate([self._prev_sp, speech])
        ctx = context_features(allpf, alldb, allsp, level_ref, cue_ref)[k:]
        self._prev_pf, self._prev_db, self._prev_sp = allpf[-CONTEXT:], alldb[-CONTEXT:], allsp[-CONTEXT:]
        return np.concatenate([ctx, self._running_mean(ctx, speech)], axis=1)

    def _running_mean(self, ctx: np.ndarray, speech: np.ndarray) -> np.ndarray:
        """Causal exponential mean of the context features over speech frames (state: one row)."""
        from scipy.signal import lfilter

        out = np.zeros_like(ctx)
        idx = np.flatnonzero(speech)
        if idx.size == 0:
            if self._ema is not None:
                out[:] = self._ema
            return out
        a = np.exp(-1.0 / EMA_FRAMES)
        last = ctx[idx[0]] if self._ema is None else self._ema
        y, _ = lfilter([1 - a], [1, -a], ctx[idx], axis=0, zi=(a * last)[None, :])
        out[idx] = y
        self._ema = y[-1].copy()
        return out

    def probabilities(self, x: np.ndarray, speech: np.ndarray, db: np.ndarray) -> np.ndarray:
        """Overlap probability per frame of ``speech`` (0 outside speech)."""
        feats = self.features(x, speech, db)
        out = np.zeros(len(speech))
        n = len(feats)
        if self.model is None:
            raise RuntimeError("OverlapDetector has no model; it can only compute features")
        out[:n] = np.where(np.asarray(speech[:n], bool), self.model.predict(feats), 0.0)
        return out

    def __call__(self, x: np.ndarray, speech: np.ndarray, db: np.ndarray) -> np.ndarray:
        p = self.probabilities(x, speech, db)
        out = np.zeros(len(speech), bool)
        out[: len(p)] = p >= self.threshold
        return out
