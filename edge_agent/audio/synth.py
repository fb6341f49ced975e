"""Deterministic classroom audio for samples, benchmarks and tests (never used at run time).

Speech comes from espeak-ng (a program on the build machine; its synthesized
output is unrestricted), noise from a seeded NumPy generator, so the same
script always gives the same file. Reference labels follow the convention of
``../shared/data/vad``: a 10 ms frame is speech where the clean foreground is
within 35 dB of its utterance peak, gaps under 100 ms bridged.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from edge_agent.audio.talk import merge_gaps

SR = 16000
FRAME = 160  # 10 ms at 16 kHz


def say(text: str, voice: str, speed: int = 150, pitch: int = 50) -> np.ndarray:
    """espeak-ng speech as float32 mono at 16 kHz, peak-normalised to 0.5."""
    import soundfile as sf

    with tempfile.TemporaryDirectory() as td:
        path = os.path.join(td, "u.wav")
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", path, text],  # noqa: S603, S607 - fixed argv, test tool
                       check=True, capture_output=True)
        x, sr = sf.read(path, dtype="float32")
    return conform(x, sr)


def conform(x: np.ndarray, sr: int, trim: bool = True) -> np.ndarray:
    """Mono ``x`` at ``sr`` as float32 at 16 kHz, padding trimmed (unless ``trim=False``), peak-normalised to 0.5."""
    import soxr

    x = soxr.resample(x, sr, SR).astype(np.float32) if sr != SR else x
    x = _trim(x) if trim else x
    return (0.5 * x / (np.abs(x).max() + 1e-9)).astype(np.float32)


def _trim(x: np.ndarray) -> np.ndarray:
    act = active_frames(x)
    if not act.any():
        return x
    idx = np.flatnonzero(act)
    return x[idx[0] * FRAME:(idx[-1] + 1) * FRAME]


def active_frames(x: np.ndarray, below_peak_db: float = 35.0, bridge_frames: int = 10) -> np.ndarray:
    """10 ms frames within ``below_peak_db`` of the peak frame, gaps < ``bridge_frames`` bridged."""
    n = len(x) // FRAME
    if n == 0:
        return np.zeros(0, bool)
    rms = np.sqrt(np.mean(x[: n * FRAME].reshape(n, FRAME).astype(np.float64) ** 2, axis=1) + 1e-12)
    db = 20 * np.log10(rms)
    act = db > db.max() - below_peak_db
    return merge_gaps(act, bridge_frames)


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """1/f noise by spectral shaping of white noise, unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spec.size, dtype=np.float64)
    f[0] = 1.0
    x = np.fft.irfft(spec / np.sqrt(f), n)
    return (x / (x.std() + 1e-12)).astype(np.float32)


def brown_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """1/f² noise (leaky integral of white noise), unit RMS."""
    from scipy.signal import lfilter

    x = lfilter([1.0], [1.0, -0.995], rng.standard_normal(n))
    x = x - x.mean()
    return (x / (x.std() + 1e-12)).astype(np.float32)


def fan_noise(n: int, rng: np.random.Generator, hum_hz: float = 100.0) -> np.ndarray:
    """HVAC/projector fan: band-limited broadband noise plus mains hum and blade tone, unit RMS."""
    from scipy.signal import butter, sosfilt

    t = np.arange(n) / SR
    sos = butter(4, [150, 2500], btype="band", fs=SR, output="sos")
    broad = sosfilt(sos, rng.standard_normal(n))
    broad /= broad.std() + 1e-12
    hum = np.sin(2 * np.pi * hum_hz * t) + 0.5 * np.sin(2 * np.pi * 2 * hum_hz * t) + 0.3 * np.sin(2 * np.pi * 173 * t)
    x = broad + 0.8 * hum
    return (x / (x.std() + 1e-12)).astype(np.float32)


def babble(n: int, rng: np.random.Generator, sentences: list[tuple[str, str]],
           lowpass_hz: float | None = 1200.0) -> np.ndarray:
    """Chatter: several espeak voices summed, unit RMS. Low-passed at ``lowpass_hz`` (a wall between: next-room
    chatter, the default); ``None`` keeps the full band (other groups talking in the same room)."""
    from scipy.signal import butter, sosfilt

    out = np.zeros(n, np.float32)
    for text, voice in sentences:
        u = say(text, voice, speed=int(rng.integers(140, 190)), pitch=int(rng.integers(30, 80)))
        pos = 0
        while pos < n:
            seg = u[: n - pos]
            out[pos:pos + len(seg)] += seg
            pos += len(u) + int(rng.integers(int(0.2 * SR), int(1.5 * SR)))
    if lowpass_hz is not None:
        out = sosfilt(butter(4, lowpass_hz, btype="low", fs=SR, output="sos"), out).astype(np.float32)
    return out / (out.std() + 1e-12)


@dataclass(frozen=True)
class Line:
    speaker: str  # "teacher" or a student name
    voice: str
    text: str
    gap_s: float  # pause before this line; negative = overlaps the previous line's end
    gain: float = 1.0  # relative level (the teacher is nearer the microphone)
    speed: int = 150
    pitch: int = 50


@dataclass
class Scene:
    """A clean foreground with its 10 ms labels."""

    clean: np.ndarray
    speech: np.ndarray  # bool per 10 ms frame
    teacher: np.ndarray  # bool per 10 ms frame
    overlap: np.ndarray  # bool per 10 ms frame: two or more speakers active

    @property
    def n_frames(self) -> int:
        return len(self.speech)


def render(lines: list[Line], total_s: float, lead_in_s: float = 1.0) -> Scene:
    """Place the lines on a timeline of ``total_s`` seconds; lines that don't fit are dropped."""
    clips = ((ln.speaker == "teacher", say(ln.text, ln.voice, ln.speed, ln.pitch) * ln.gain, ln.gap_s) for ln in lines)
    return render_clips(clips, total_s, lead_in_s)


def render_clips(clips: Iterable[tuple[bool, np.ndarray, float]], total_s: float, lead_in_s: float = 1.0) -> Scene:
    """Place ``(is_teacher, samples, gap_s)`` clips one after another (negative gap = overlap the previous end)."""
    n = int(total_s * SR) // FRAME * FRAME
    clean = np.zeros(n, np.float32)
    nf = n // FRAME
    count = np.zeros(nf, np.int16)
    teacher = np.zeros(nf, bool)
    pos = int(lead_in_s * SR)
    prev_end = pos
    for is_teacher, u, gap_s in clips:
        start = max(0, prev_end + int(gap_s * SR)) // FRAME * FRAME
        if start + len(u) > n:
            break
        clean[start:start + len(u)] += u
        act = active_frames(u)
        f0 = start // FRAME
        count[f0:f0 + len(act)] += act
        if is_teacher:
            teacher[f0:f0 + len(act)] |= act
        prev_end = start + len(u)
    return Scene(clean, count > 0, teacher, count > 1)


def mix_at_snr(clean: np.ndarray, speech: np.ndarray, background: np.ndarray, snr_db: float) -> np.ndarray:
    """Scale ``background`` so that foreground RMS over its active frames / background RMS = SNR."""
    nf = len(speech)
    fr = clean[: nf * FRAME].reshape(nf, FRAME)
    fg = np.sqrt(np.mean(fr[speech].astype(np.float64) ** 2)) if speech.any() else 0.05
    bg = np.sqrt(np.mean(background.astype(np.float64) ** 2)) + 1e-12
    y = clean + background * (fg / bg / 10 ** (snr_db / 20))
    peak = np.abs(y).max()
    return (y * (0.9 / peak) if peak > 0.9 else y).astype(np.float32)


def write_labels(path: str, scene: Scene) -> None:
    """``frame_10ms,speech,teacher,overlap`` CSV, one row per 10 ms frame."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("frame_10ms,speech,teacher,overlap\n")
        for i in range(scene.n_frames):
            f.write(f"{i},{int(scene.speech[i])},{int(scene.teacher[i])},{int(scene.overlap[i])}\n")


def read_labels(path: str) -> dict[str, np.ndarray]:
    """Read a reference CSV (this module's or ``../shared/data/vad``'s) into bool arrays per column."""
    with open(path, encoding="utf-8") as f:
        header = f.readline().strip().split(",")
        rows = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    return {h: rows[:, i].astype(bool) for i, h in enumerate(header) if h != "frame_10ms"}
