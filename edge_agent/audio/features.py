"""Voice-tone features (librosa), identical at training time and on the box.

One fixed-length vector per utterance: MFCC statistics (with deltas, after
per-utterance mean normalisation, which removes the microphone's colouring), energy,
spectral shape and YIN pitch statistics. YIN rather than pYIN: pYIN costs ~15× the time.
"""

from __future__ import annotations

import numpy as np

SR = 16000
N_FFT = 512
HOP = 160
N_MFCC = 20
FMIN, FMAX = 60.0, 400.0


def _stats(x: np.ndarray) -> list[float]:
    if x.size == 0:
        return [0.0, 0.0, 0.0, 0.0]
    return [float(x.mean()), float(x.std()), float(np.percentile(x, 10)), float(np.percentile(x, 90))]


def utterance_features(y: np.ndarray, sr: int = SR) -> np.ndarray:
    """float32 mono at 16 kHz (≥ 0.3 s) → feature vector (float32, length ``N_FEATURES``)."""
    import librosa

    if sr != SR:
        raise ValueError(f"features expect {SR} Hz audio, got {sr}")
    y = np.asarray(y, dtype=np.float32)
    if len(y) < SR * 0.3:
        y = np.pad(y, (0, int(SR * 0.3) - len(y)))
    y = y - y.mean()
    peak = np.abs(y).max()
    if peak > 0:
        y = y / peak * 0.5
    S = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP)) ** 2
    mel = librosa.feature.melspectrogram(S=S, sr=SR, n_mels=40)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel + 1e-10), n_mfcc=N_MFCC)
    rms = librosa.feature.rms(S=np.sqrt(S), frame_length=N_FFT)[0]
    db = 20 * np.log10(rms + 1e-6)
    voiced = db > db.max() - 30
    m = mfcc[:, voiced] if voiced.sum() >= 3 else mfcc
    m = m - m.mean(axis=1, keepdims=True) * np.r_[0, np.ones(N_MFCC - 1)][:, None]  # keep c0 level, CMN the rest
    d1 = librosa.feature.delta(m, width=3) if m.shape[1] >= 3 else np.zeros_like(m)
    feats: list[float] = []
    feats += m.mean(axis=1).tolist() + m.std(axis=1).tolist()
    feats += d1.std(axis=1).tolist()
    feats += _stats(db[voiced]) + [float(voiced.mean())]
    for f in (librosa.feature.spectral_centroid(S=S, sr=SR)[0], librosa.feature.spectral_bandwidth(S=S, sr=SR)[0],
              librosa.feature.spectral_rolloff(S=S, sr=SR)[0] / SR, librosa.feature.spectral_flatness(S=S)[0],
              librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP)[0]):
        f = f[: len(voiced)]
        fv = f[voiced[: len(f)]] if voiced[: len(f)].sum() >= 3 else f
        feats += [float(fv.mean()), float(fv.std())]
    f0 = librosa.yin(y, fmin=FMIN, fmax=FMAX, sr=SR, frame_length=1024, hop_length=HOP)
    n = min(len(f0), len(voiced))
    f0v = f0[:n][voiced[:n] & (f0[:n] > FMIN * 1.05) & (f0[:n] < FMAX * 0.95)]
    semis = 12 * np.log2(f0v / 100.0) if f0v.size else np.zeros(0)
    feats += _stats(semis) + [float(np.ptp(semis)) if semis.size else 0.0,
                              float(np.abs(np.diff(semis)).mean()) if semis.size > 1 else 0.0]
    # speaking-rate proxy: energy-envelope peaks per second
    env = np.convolve(rms, np.ones(5) / 5, mode="same")
    peaks = ((env[1:-1] > env[:-2]) & (env[1:-1] > env[2:]) & voiced[1:-1]).sum()
    feats.append(float(peaks) / (len(y) / SR))
    return np.asarray(feats, dtype=np.float32)


N_FEATURES = N_MFCC * 3 + 5 + 10 + 6 + 1
