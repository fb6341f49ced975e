"""Make samples/classroom.wav (+ classroom.ref.csv): a ~72 s synthetic lesson, deterministic.

A Mandarin teacher and three students (English and Mandarin voices) take turns,
with pauses and some overlap, in a room with fan hum and pink/brown noise at
15 dB SNR. Run from the repo root:  python samples/make_sample_audio.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_agent.audio.synth import SR, Line, brown_noise, fan_noise, mix_at_snr, pink_noise, render, write_labels  # noqa: E402

T, A, B, C = "teacher", "student_a", "student_b", "student_c"
TV = dict(voice="cmn", gain=1.0, speed=145, pitch=35)
LESSON = [
    Line(T, text="同学们好，今天我们学习分数的加法。", gap_s=0.0, **TV),
    Line(T, text="Please open your books to page twelve.", gap_s=0.6, voice="en-us+m3", gain=1.0, speed=150, pitch=35),
    Line(A, "en-us+f3", "Teacher, which exercise should we do first?", gap_s=1.8, gain=0.55, pitch=70),
    Line(T, text="先做第一题，二分之一加四分之一。", gap_s=0.5, **TV),
    Line(B, "cmn+f4", "等于四分之三。", gap_s=2.5, gain=0.5, pitch=75, speed=160),
    Line(T, text="很好，为什么呢？", gap_s=-0.3, **TV),
    Line(B, "cmn+f4", "因为二分之一等于四分之二。", gap_s=1.2, gain=0.5, pitch=75, speed=160),
    Line(C, "en-gb+m3", "I got three quarters too!", gap_s=-0.4, gain=0.45, pitch=65, speed=170),
    Line(T, text="Good. Now try the next one on your own.", gap_s=0.8, voice="en-us+m3", gain=1.0, speed=150, pitch=35),
    Line(A, "en-us+f3", "Can we work in pairs?", gap_s=4.0, gain=0.55, pitch=70),
    Line(T, text="可以，两个人一组，五分钟。", gap_s=0.4, **TV),
    Line(C, "en-gb+m3", "What is two thirds plus one sixth?", gap_s=3.5, gain=0.45, pitch=65, speed=170),
    Line(A, "en-us+f3", "Five sixths, I think.", gap_s=0.6, gain=0.55, pitch=70),
    Line(B, "cmn+f4", "对，六分之五。", gap_s=-0.2, gain=0.5, pitch=75, speed=160),
    Line(T, text="大家做得很好。我们来检查答案。", gap_s=3.0, **TV),
    Line(T, text="Who wants to explain the second question?", gap_s=0.7, voice="en-us+m3", gain=1.0, speed=150, pitch=35),
    Line(C, "en-gb+m3", "Me! We need a common denominator first.", gap_s=1.5, gain=0.45, pitch=65, speed=170),
    Line(T, text="完全正确。下课前请写完练习。", gap_s=0.9, **TV),
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "classroom.wav"))
    ap.add_argument("--seconds", type=float, default=72.0)
    ap.add_argument("--snr", type=float, default=15.0)
    ap.add_argument("--seed", type=int, default=20261125)
    a = ap.parse_args(argv)
    import soundfile as sf

    scene = render(LESSON, a.seconds)
    n = len(scene.clean)
    rng = np.random.default_rng(a.seed)
    room = 0.6 * fan_noise(n, rng) + 0.6 * pink_noise(n, rng) + 0.5 * brown_noise(n, rng)
    y = mix_at_snr(scene.clean, scene.speech, room, a.snr)
    sf.write(a.out, y, SR, subtype="PCM_16")
    write_labels(str(Path(a.out).with_suffix(".ref.csv")), scene)
    print(f"{a.out}: {n / SR:.1f} s, speech {scene.speech.mean():.2f}, teacher {scene.teacher.sum() / max(1, scene.speech.sum()):.2f}"
          f" of speech, overlap {scene.overlap.sum() * 0.01:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
