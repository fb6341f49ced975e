"""Synthesize VAD benchmark audio with reference labels (deterministic; espeak-ng + NumPy noise).

* ``mixed``: EmoDB training-speaker speech (../shared/data/ser) and espeak-ng
  lines alternating with silences, fan noise and next-room babble at 5–10 dB SNR.
* ``lesson``: a long lesson (default 10 min) in the style of ../shared/data/vad —
  Mandarin and English espeak-ng voices taking turns — at a given SNR.
* ``quiet``: soft, low-arousal speech (EmoDB training speakers' sad, bored and neutral
  clips, each 0 to −9 dB below the loudest) with 0.3–3 s pauses, in the lesson's
  classroom noise at a given SNR over all speech — the voices a VAD tends to undercount.

Writes ``<out>/<name>.flac`` and ``<out>/<name>.ref.csv`` (frame_10ms,speech,teacher,overlap).
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_agent.audio.synth import (  # noqa: E402
    FRAME,
    SR,
    Line,
    Scene,
    active_frames,
    babble,
    brown_noise,
    conform,
    fan_noise,
    mix_at_snr,
    pink_noise,
    render,
    render_clips,
    write_labels,
)

EN = ["Open your books to page forty.", "Who can explain the answer?", "I think it is seven.",
      "Let us check the second question together.", "Can you repeat that, please?", "Work with your partner now.",
      "The area of the triangle is half the base times the height.", "Yes, that is right.", "I do not understand."]
ZH = ["同学们好，请坐。", "谁来回答这个问题？", "我觉得答案是七。", "我们一起检查第二题。", "请再说一遍。",
      "现在和同桌讨论一下。", "三角形的面积等于底乘高除以二。", "对，非常好。", "老师，我不明白。"]
NEXT_ROOM = [("Now everybody turn to the next page and read quietly.", "en-us+m2"),
             ("这个实验的结果说明了什么问题？", "cmn"), ("Put your hand up if you finished.", "en-gb+f2"),
             ("请把作业交上来。", "cmn+f2"), ("What did the author mean in this paragraph?", "en-us+f2"),
             ("大家注意听。", "cmn+m1")]


def lesson_lines(seconds: float, rng: np.random.Generator) -> list[Line]:
    """Teacher-led talk with student replies, 0.3–5 s pauses and occasional overlap, until ``seconds``."""
    students = [("en-us+f3", 0.5, 70), ("cmn+f4", 0.5, 75), ("en-gb+m3", 0.45, 60), ("cmn+m2", 0.45, 55)]
    lines, t = [], 0.0
    while t < 2 * seconds:  # over-generate; render() stops at the end of the timeline
        if rng.random() < 0.55:
            zh = rng.random() < 0.5
            lines.append(Line("teacher", "cmn" if zh else "en-us+m3", str(rng.choice(ZH if zh else EN)),
                              float(rng.uniform(0.3, 3.0)), 1.0, 145, 35))
        else:
            v, g, p = students[int(rng.integers(len(students)))]
            text = str(rng.choice(ZH if v.startswith("cmn") else EN))
            gap = float(rng.uniform(-0.5, 0.0)) if rng.random() < 0.2 else float(rng.uniform(0.5, 5.0))
            lines.append(Line("student", v, text, gap, g, 165, p))
        t += 3.0 + max(0.0, lines[-1].gap_s)
    return lines


def next_room(n: int, rng: np.random.Generator) -> np.ndarray:
    return babble(n, rng, NEXT_ROOM)


def make_lesson(seconds: float, snr: float, seed: int) -> tuple[np.ndarray, Scene]:
    rng = np.random.default_rng(seed)
    scene = render(lesson_lines(seconds, rng), seconds)
    n = len(scene.clean)
    bg = 0.5 * fan_noise(n, rng) + 0.5 * pink_noise(n, rng) + 0.7 * next_room(n, rng)
    return mix_at_snr(scene.clean, scene.speech, bg, snr), scene


LOW_AROUSAL = "TLN"  # EmoDB emotion letters: sadness, boredom, neutral


def ser_clips(ser_dir: str, emotions: str | None = None) -> list[str]:
    """EmoDB-named clips under ``ser_dir`` (sorted), optionally only those whose emotion letter is in ``emotions``."""
    clips = sorted(glob.glob(os.path.join(ser_dir, "**", "*.flac"), recursive=True) +
                   glob.glob(os.path.join(ser_dir, "**", "*.wav"), recursive=True))
    if emotions is not None:
        clips = [c for c in clips if len(Path(c).stem) >= 6 and Path(c).stem[5] in emotions]
    if not clips:
        raise SystemExit(f"no speech clips under {ser_dir}")
    return clips


def read_clip(path: str, trim: bool = True) -> np.ndarray:
    """A clip as float32 mono at 16 kHz, peak-normalised to 0.5 (padding trimmed unless ``trim=False``)."""
    import soundfile as sf

    x, sr = sf.read(path, dtype="float32", always_2d=True)
    return conform(x.mean(axis=1), sr, trim)


def make_quiet(ser_dir: str, seconds: float, snr: float, seed: int) -> tuple[np.ndarray, Scene]:
    """Low-arousal EmoDB speech at 0 to −9 dB per clip, 0.3–3 s pauses, in lesson classroom noise at ``snr``."""
    rng = np.random.default_rng(seed)
    clips = ser_clips(ser_dir, LOW_AROUSAL)

    def gen():  # noqa: ANN202 - generator of render_clips' tuples
        while True:
            x = read_clip(clips[int(rng.integers(len(clips)))]) * 10 ** (-float(rng.uniform(0.0, 9.0)) / 20)
            yield False, x.astype(np.float32), float(rng.uniform(0.3, 3.0))

    scene = render_clips(gen(), seconds)
    n = len(scene.clean)
    bg = 0.5 * fan_noise(n, rng) + 0.5 * pink_noise(n, rng) + 0.7 * next_room(n, rng)
    return mix_at_snr(scene.clean, scene.speech, bg, snr), scene


def make_mixed(ser_dir: str, seconds: float, seed: int) -> tuple[np.ndarray, Scene]:
    """Speech (EmoDB clips and espeak lines) alternating with silences and noises; SNR 10 dB then 5 dB halves."""
    rng = np.random.default_rng(seed)
    clips = ser_clips(ser_dir)
    n = int(seconds * SR) // FRAME * FRAME
    clean = np.zeros(n, np.float32)
    count = np.zeros(n // FRAME, np.int16)
    nonspeech = np.zeros(n, np.float32)
    pos = int(0.5 * SR)
    k = 0
    while pos < n:
        if k % 2 == 0:
            if rng.random() < 0.6:
                x = read_clip(clips[int(rng.integers(len(clips)))], trim=False)
            else:
                from edge_agent.audio.synth import say

                zh = rng.random() < 0.5
                x = say(str(rng.choice(ZH if zh else EN)), "cmn" if zh else "en-us+f3")
            x = x[: max(0, n - pos)]
            clean[pos:pos + len(x)] += x
            act = active_frames(x)
            count[pos // FRAME:pos // FRAME + len(act)] += act
            pos += len(x)
        else:
            d = int(rng.uniform(1.5, 3.5) * SR)
            seg = min(d, n - pos)
            kind = int(rng.integers(3))
            if kind == 1:  # a fan switching on, at roughly speech level
                nonspeech[pos:pos + seg] = 0.15 * fan_noise(seg, rng)
            elif kind == 2:  # a burst of next-room chatter
                nonspeech[pos:pos + seg] = 0.1 * next_room(seg, rng)
            pos += d
        k += 1
    scene = Scene(clean, count > 0, np.zeros_like(count, bool), count > 1)
    rng2 = np.random.default_rng(seed + 1)
    bg = 0.6 * pink_noise(n, rng2) + 0.4 * brown_noise(n, rng2) + 0.6 * next_room(n, rng2)
    half = n // 2 // FRAME * FRAME
    y = np.concatenate([mix_at_snr(clean[:half] + nonspeech[:half], scene.speech[: half // FRAME], bg[:half], 10.0),
                        mix_at_snr(clean[half:] + nonspeech[half:], scene.speech[half // FRAME:], bg[half:], 5.0)])
    return y, scene


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("kind", choices=["lesson", "mixed", "quiet"])
    ap.add_argument("--out", default="bench/out")
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--snr", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--ser", default="../shared/data/ser")
    a = ap.parse_args(argv)
    import soundfile as sf

    os.makedirs(a.out, exist_ok=True)
    if a.kind == "lesson":
        y, scene = make_lesson(a.seconds, a.snr, a.seed)
        name = f"lesson_{int(a.seconds)}s_snr{a.snr:g}"
    elif a.kind == "quiet":
        y, scene = make_quiet(a.ser, a.seconds, a.snr, a.seed)
        name = f"quiet_{int(a.seconds)}s_snr{a.snr:g}_seed{a.seed}"
    else:
        y, scene = make_mixed(a.ser, a.seconds, a.seed)
        name = f"mixed_{int(a.seconds)}s"
    path = os.path.join(a.out, name)
    sf.write(path + ".flac", y, SR, subtype="PCM_16")
    write_labels(path + ".ref.csv", scene)
    print(path + ".flac")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
