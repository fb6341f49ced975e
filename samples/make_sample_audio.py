"""Synthesize the demo/test classroom audio (deterministic): espeak-ng voices + sox room noise.

A teacher (English and Mandarin) and three students take turns, with pauses, one
overlapping reply, and pink noise plus a 100 Hz fan hum at about 15 dB SNR.
espeak-ng's synthesized output is not restricted by its GPL-3 licence; sox noise is ours.
Writes samples/classroom.wav (16 kHz mono) and samples/classroom.ref.csv (10 ms speech labels).
Run: ``python samples/make_sample_audio.py`` (needs espeak-ng and sox).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

OUT = Path(__file__).resolve().parent
SR = 16000
SECONDS = 75
SCRIPT = [  # (start s, voice, text)
    (1.0, "en-us+m3", "Good morning everyone. Today we look at fractions."),
    (6.5, "cmn", "同学们好，今天我们学习分数。"),
    (12.0, "en-gb+f3", "Is one half bigger than one third?"),
    (16.5, "en-us+m3", "Good question. Who can tell us why?"),
    (21.0, "cmn+f4", "因为二分之一更大。"),
    (22.2, "en-us+f4", "Because the pieces are bigger."),
    (28.0, "en-us+m3", "Exactly. Now work with your partner for a minute."),
    (40.0, "cmn", "请大家举手回答下一个问题。"),
    (45.0, "en-gb+f3", "Three quarters is more than two thirds."),
    (50.5, "en-us+m3", "Well done. Let us write that on the board."),
    (58.0, "cmn+f4", "老师，我还有一个问题。"),
    (62.0, "en-us+m3", "Yes, please go ahead, we have a few minutes left."),
]


def say(voice: str, text: str, tmp: Path) -> np.ndarray:
    wav = tmp / "u.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(wav), text], check=True)  # noqa: S603, S607
    x, sr = sf.read(wav, dtype="float32")
    if sr != SR:
        import soxr

        x = soxr.resample(x, sr, SR)
    return x.astype(np.float32)


def main() -> None:
    rng = np.random.default_rng(7)
    fg = np.zeros(SR * SECONDS, np.float32)
    with tempfile.TemporaryDirectory() as d:
        for start, voice, text in SCRIPT:
            u = say(voice, text, Path(d))
            u = 0.25 * u / (np.abs(u).max() + 1e-9)
            i = int(start * SR)
            fg[i:i + len(u)] += u[: len(fg) - i]
    # reference labels: frame RMS above peak - 35 dB, gaps < 100 ms bridged
    hop = SR // 100
    n = len(fg) // hop
    rms = np.sqrt((fg[: n * hop].reshape(n, hop) ** 2).mean(axis=1) + 1e-12)
    db = 20 * np.log10(rms)
    lab = db > db.max() - 35
    gaps = np.flatnonzero(np.diff(np.concatenate(([1], lab.astype(int), [1]))) != 0).reshape(-1, 2)
    for s, e in gaps:
        if e - s < 10 and s > 0 and e < n:
            lab[s:e] = True
    # room noise: pink noise + 100 Hz hum, ~15 dB below the speech
    white = rng.standard_normal(len(fg)).astype(np.float32)
    spec = np.fft.rfft(white)
    spec /= np.sqrt(np.maximum(np.arange(len(spec)), 1))
    pink = np.fft.irfft(spec, n=len(fg)).astype(np.float32)
    t = np.arange(len(fg)) / SR
    noise = pink / pink.std() + 0.5 * np.sin(2 * np.pi * 100 * t).astype(np.float32)
    speech_rms = np.sqrt((fg[np.repeat(lab, hop)[: len(fg)]] ** 2).mean()) if lab.any() else 0.05
    noise *= speech_rms / np.sqrt((noise ** 2).mean()) / (10 ** (15 / 20))
    mix = np.clip(fg + noise, -1, 1)
    sf.write(OUT / "classroom.wav", mix, SR, subtype="PCM_16")
    with (OUT / "classroom.ref.csv").open("w") as fh:
        fh.write("frame_10ms,speech\n")
        for i, v in enumerate(lab):
            fh.write(f"{i},{int(v)}\n")
    print(f"speech {lab.mean():.2%} of {SECONDS} s")


if __name__ == "__main__":
    main()
