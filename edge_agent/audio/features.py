"""Voice-tone features (librosa), identical at training time and on the box.

One fixed-length vector per utterance: six functionals (mean, std, 10th/50th/90th percentile,
linear slope over time) of 94 frame descriptors taken over the voiced frames (MFCC 0–19 with
first and second deltas, 20 log-mel bands, level, alpha ratio, Hammarberg index, spectral
centroid, flatness, contrast, flux and zero-crossing rate), the same functionals of YIN pitch
in semitones, and four rhythm/voicing numbers. Functionals of the whole distribution, deltas and
the eGeMAPS-style tilt measures generalise across speakers much better than MFCC means alone
(leave-one-speaker-out UAR on EmoDB 0.70 vs 0.56 with the earlier 82 features).

The last value is not a descriptor but an SNR estimate of the utterance (``snr_estimate_db``): the
tone model uses it to weigh its studio head against its noisy-room head (a model trained on clean
speech falls from UAR 0.71 to 0.31 at 10 dB SNR; one trained on noise loses ~8 points on clean speech).
The value before it is a reverberation cue (``decay_estimate_db``): how steeply the level can fall
within 50 ms. Reverberant rooms keep clean-like SNR estimates but cap the decay, so the tone model's gate
reads both (issue #23).

YIN rather than pYIN: pYIN costs ~15× the time. The level is peak-normalised first, so the
microphone's gain does not move the features.
"""

from __future__ import annotations

import os

import numpy as np

SR = 16000
N_FFT = 512
HOP = 160
N_MFCC = 20
N_MELS = 40
FMIN, FMAX = 60.0, 400.0
#: Frames more than this far below the loudest frame are not voiced speech.
VOICED_RANGE_DB = 35.0
#: mean, std, p10, p50, p90, slope
N_FUNCTIONALS = 6
N_DESCRIPTORS = 3 * N_MFCC + N_MELS // 2 + 5 + 7 + 2
N_FEATURES = (N_DESCRIPTORS + 1) * N_FUNCTIONALS + 4 + 2
#: Index of the decay (reverberation) estimate in the feature vector (the value before the last).
DECAY_INDEX = N_FEATURES - 2
#: Index of the SNR estimate in the feature vector (the last value).
SNR_INDEX = N_FEATURES - 1
#: Level change over this many 10 ms frames for the decay estimate (50 ms).
DECAY_FRAMES = 5


def trim_digital_silence(y: np.ndarray, floor: float = 1e-4) -> np.ndarray:
    """Drop leading and trailing samples at (digital) zero: zero-padded clips would fake pauses."""
    nz = np.flatnonzero(np.abs(y) > floor)
    return y[nz[0]: nz[-1] + 1] if nz.size else y


def frame_levels_db(y: np.ndarray) -> np.ndarray:
    """Level of each whole 10 ms frame (dB of mean power): what both utterance-level estimates below read."""
    n = len(y) // HOP * HOP
    return 10 * np.log10((y[:n].reshape(-1, HOP).astype(np.float64) ** 2).mean(axis=1) + 1e-12)


def snr_estimate_db(levels: np.ndarray) -> float:
    """Loud-minus-quiet level of 10 ms frames (95th − 5th percentile, dB; ``levels`` from
    :func:`frame_levels_db`): ~30–55 dB for studio speech, ~28 at 20 dB SNR, ~19 at 10 dB (pink noise,
    EmoDB). Cheap, and needs no noise-floor calibration."""
    if len(levels) < 2:
        return 0.0
    return float(np.percentile(levels, 95) - np.percentile(levels, 5))


def decay_estimate_db(levels: np.ndarray) -> float:
    """Steepest fall of the 10 ms frame level over 50 ms (2nd percentile, dB, ≤ 0) from frames within 30 dB of
    the loudest (``levels`` from :func:`frame_levels_db`). Dry speech falls fast at word ends (EmoDB studio
    clips: median −31, 95th percentile −19 dB); a room's reverberation tail caps the fall (RT60 0.6 s: median
    −9, 95 % of clips above −12 dB); noise caps it too (20 dB pink noise: median −21)."""
    if len(levels) < DECAY_FRAMES + 2:
        return 0.0
    db = levels - levels.max()
    d = db[DECAY_FRAMES:] - db[:-DECAY_FRAMES]
    loud = db[:-DECAY_FRAMES] > -30.0
    return float(np.percentile(d[loud] if loud.sum() > 5 else d, 2))


def _functionals(m: np.ndarray) -> np.ndarray:
    """(descriptors, frames) → (descriptors × 6,), descriptor-major."""
    if m.shape[1] < 2:
        m = np.repeat(m, 2, axis=1) if m.shape[1] else np.zeros((m.shape[0], 2), m.dtype)
    t = np.linspace(-1.0, 1.0, m.shape[1])
    slope = (m * t).sum(axis=1) / (t * t).sum()
    p10, p50, p90 = np.percentile(m, [10, 50, 90], axis=1)
    return np.stack([m.mean(axis=1), m.std(axis=1), p10, p50, p90, slope], axis=1).ravel()


def utterance_features(y: np.ndarray, sr: int = SR) -> np.ndarray:
    """float32 mono at 16 kHz (≥ 0.3 s) → feature vector (float32, length ``N_FEATURES``)."""
    # librosa's pitch tracker is compiled by numba for the host CPU; on AVX-512 hosts (AMD Zen 4) numba
    # 0.68's code for it crashed the process. Generic x86-64/aarch64 code runs everywhere, and numba's
    # on-disk cache stays valid when a disk image moves to another CPU. Must be set before numba loads.
    os.environ.setdefault("NUMBA_CPU_NAME", "generic")
    import librosa

    if sr != SR:
        raise ValueError(f"features expect {SR} Hz audio, got {sr}")
    y = trim_digital_silence(np.asarray(y, dtype=np.float32))
    if len(y) < SR * 0.3:
        y = np.pad(y, (0, int(SR * 0.3) - len(y)))
    y = y - y.mean()
    peak = np.abs(y).max()
    if peak > 0:
        y = y / peak * 0.5
    S = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP)) ** 2
    mel = librosa.power_to_db(librosa.feature.melspectrogram(S=S, sr=SR, n_mels=N_MELS) + 1e-10)
    mfcc = librosa.feature.mfcc(S=mel, n_mfcc=N_MFCC)
    d1 = librosa.feature.delta(mfcc, width=5, mode="nearest")
    d2 = librosa.feature.delta(mfcc, order=2, width=5, mode="nearest")
    db = 20 * np.log10(librosa.feature.rms(S=np.sqrt(S), frame_length=N_FFT)[0] + 1e-6)
    voiced = db > db.max() - VOICED_RANGE_DB
    if voiced.sum() < 5:
        voiced[:] = True
    freqs = librosa.fft_frequencies(sr=SR, n_fft=N_FFT)
    low, mid = (freqs >= 50) & (freqs < 1000), (freqs >= 1000) & (freqs < 5000)
    alpha = 10 * np.log10((S[low].sum(0) + 1e-10) / (S[mid].sum(0) + 1e-10))
    hammarberg = 10 * np.log10((S[freqs < 2000].max(0) + 1e-10) / (S[(freqs >= 2000) & (freqs < 5000)].max(0) + 1e-10))
    flux = np.r_[0.0, np.sqrt((np.diff(np.sqrt(S), axis=1) ** 2).sum(0))]
    frames = np.vstack([
        mfcc, d1, d2, mel[::2], db[None], alpha[None], hammarberg[None],
        librosa.feature.spectral_centroid(S=S, sr=SR) / 1000, librosa.feature.spectral_flatness(S=S),
        librosa.feature.spectral_contrast(S=S, sr=SR, n_bands=6, fmin=100), np.log1p(flux)[None],
        librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP)[:, : len(voiced)],
    ])[:, : len(voiced)]
    f0 = librosa.yin(y, fmin=FMIN, fmax=FMAX, sr=SR, frame_length=1024, hop_length=HOP)[: len(voiced)]
    pitched = voiced[: len(f0)] & (f0 > FMIN * 1.05) & (f0 < FMAX * 0.95)
    semis = 12 * np.log2(f0[pitched] / 100.0) if pitched.sum() > 2 else np.zeros(3)
    levels = frame_levels_db(y)
    out = np.r_[
        _functionals(frames[:, voiced]), _functionals(semis[None]),
        pitched.mean(), voiced.mean(), np.abs(np.diff(semis)).mean() if semis.size > 1 else 0.0, len(y) / SR,
        decay_estimate_db(levels), snr_estimate_db(levels),
    ]
    return np.nan_to_num(out).astype(np.float32)
