"""Fit and evaluate the overlap (crosstalk) model of edge_agent/audio/overlap.py on generated scenes.

Scenes (60 s, deterministic by seed): clips from a speaker pool placed one after
another, a scene-level share of them overlapping the previous clip by 0.2–2 s,
speakers at gains 0.4–1.0, fan + pink noise + next-room babble at 30/15/10/5 dB SNR.

* train: espeak-ng voices and sentences NOT used by bench/make_vad_mix.py
  (en-us, en-gb and cmn with variants m1 m4 m5 m6 m7 f1 f2 f5) + EmoDB speakers 08 10 11 12 14;
* held out: the bench lesson voices (en-us+m3/f3, en-gb+m3/f3, cmn, cmn+f4/m2), other sentences,
  EmoDB speakers 15 (m) and 16 (f) — unseen speakers.

Features are taken inside the *detected* speech (the stage's VAD), as on the box; labels are the
scene's reference overlap frames. Fits a one-hidden-layer MLP (sklearn, 16 ReLU units) on
standardised features, picks the threshold with the smallest overlap_share error on the training
scenes, writes ``models/overlap/overlap_mlp.npz`` (plain arrays, read back by
``edge_agent.audio.overlap.OverlapModel``) and prints held-out scores — frame precision/recall
inside detected speech; overlap_share error per 60 s scene next to the always-the-training-prior
baseline; a logistic regression on the same features for comparison — as one JSON line.
Afterwards run ``python models/build_manifest.py`` (the agent checks the file's sha256).

    OMP_NUM_THREADS=1 python bench/train_overlap.py --ser ../shared/data/ser [--train 120 --held 32]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from edge_agent.audio import overlap as ov  # noqa: E402
from edge_agent.audio.synth import SR, babble, fan_noise, mix_at_snr, pink_noise, render_clips, say  # noqa: E402
from edge_agent.audio.vad import Vad  # noqa: E402

TRAIN_VOICES = [f"{lang}+{v}" for lang in ("en-us", "en-gb", "cmn")
                for v in ("m1", "m4", "m5", "m6", "m7", "f1", "f2", "f5")]
HELD_VOICES = ["en-us+m3", "en-us+f3", "en-gb+m3", "en-gb+f3", "cmn", "cmn+f4", "cmn+m2"]
TRAIN_EN = ["Please take out a pencil and a ruler.", "What is the longest river in the world?",
            "Remember to write your name at the top.", "Can somebody read the first paragraph aloud?",
            "The answer should be twelve centimetres.", "I forgot my homework at home.",
            "Let us draw the graph of this function.", "Why do leaves change colour in autumn?"]
TRAIN_ZH = ["请拿出铅笔和尺子。", "世界上最长的河流是哪一条？", "记得在上面写上你的名字。", "谁来朗读第一段？",
            "答案应该是十二厘米。", "我把作业忘在家里了。", "我们来画这个函数的图像。", "为什么秋天树叶会变颜色？"]
HELD_EN = ["Today we will learn about fractions.", "Is this the right way to start?", "Please be quiet for a moment.",
           "My group has finished the experiment.", "Look at the picture on the board.", "How many sides does a hexagon have?"]
HELD_ZH = ["今天我们学习分数。", "这样开始对吗？", "请安静一下。", "我们组做完实验了。", "看黑板上的图片。", "六边形有几条边？"]
BABBLE_TRAIN = [("Everyone line up at the door.", "en-us+m5"), ("下课以后去操场。", "cmn+m1"),
                ("Who has the scissors?", "en-gb+f1"), ("把书翻到下一页。", "cmn+f3"), ("Read it again slowly.", "en-us+f4")]
BABBLE_HELD = [("We are going on a trip tomorrow.", "en-us+m6"), ("这道题怎么做？", "cmn+f1"),
               ("Close the window, please.", "en-gb+m2"), ("请大家举手。", "cmn+m3"), ("That was excellent work.", "en-us+f5")]
EMODB_TRAIN = ("08", "10", "11", "12", "14")
EMODB_HELD = ("15", "16")
SCENE_S = 60.0
SNRS = (30.0, 15.0, 10.0, 5.0)  # 30 dB: a quiet room (the clean case must not look like crosstalk)


def emodb_clips(ser_dir: str, speakers: tuple[str, ...]) -> list[np.ndarray]:
    import soundfile as sf

    out = []
    for p in sorted(glob.glob(os.path.join(ser_dir, "**", "*.flac"), recursive=True)):
        if os.path.basename(p)[:2] in speakers:
            x, sr = sf.read(p, dtype="float32")
            assert sr == SR
            nz = np.flatnonzero(np.abs(x) > 1e-3)
            if nz.size:
                x = x[nz[0]:nz[-1] + 1]
            out.append((0.5 * x / (np.abs(x).max() + 1e-9)).astype(np.float32))
    return out


def make_scene(rng: np.random.Generator, voices: list[str], en: list[str], zh: list[str],
               emodb: list[np.ndarray], bab: np.ndarray, snr: float):
    """(mix, scene) — one 60 s scene; the overlap share of clips is drawn per scene."""
    p_ov = float(rng.choice([0.0, 0.15, 0.3, 0.5, 0.7]))

    def clips():
        while True:
            if emodb and rng.random() < 0.3:
                u = emodb[int(rng.integers(len(emodb)))]
            else:
                v = voices[int(rng.integers(len(voices)))]
                u = say(str(rng.choice(zh if v.startswith("cmn") else en)), v,
                        speed=int(rng.integers(140, 185)), pitch=int(rng.integers(25, 80)))
            gain = float(rng.uniform(0.4, 1.0))
            gap = float(rng.uniform(-2.0, -0.2)) if rng.random() < p_ov else float(rng.uniform(0.2, 3.0))
            yield False, u * gain, gap

    scene = render_clips(clips(), SCENE_S, lead_in_s=0.5)
    n = len(scene.clean)
    off = int(rng.integers(0, len(bab) - n))
    bg = 0.5 * fan_noise(n, rng) + 0.5 * pink_noise(n, rng) + 0.7 * bab[off:off + n]
    return mix_at_snr(scene.clean, scene.speech, bg, snr), scene


def scene_features(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(context features, VAD speech mask) for a whole scene, chunked as the stage does (0.5 s)."""
    vad = Vad()
    det = ov.OverlapDetector(None)  # features only
    feats, sps = [], []
    step = SR // 2
    for i in range(0, len(x) - step + 1, step):
        c = x[i:i + step] - x[i:i + step].mean()
        sp, db = vad(c)
        feats.append(det.features(c, sp, db))
        sps.append(sp)
    return np.concatenate(feats), np.concatenate(sps)


def build(n: int, seed: int, held: bool, ser: str) -> list[dict]:
    rng = np.random.default_rng(seed)
    voices, en, zh = (HELD_VOICES, HELD_EN, HELD_ZH) if held else (TRAIN_VOICES, TRAIN_EN, TRAIN_ZH)
    emodb = emodb_clips(ser, EMODB_HELD if held else EMODB_TRAIN) if ser and os.path.isdir(ser) else []
    bab = babble(int(200 * SR), rng, BABBLE_HELD if held else BABBLE_TRAIN)
    out = []
    for i in range(n):
        snr = SNRS[i % len(SNRS)]
        x, scene = make_scene(rng, voices, en, zh, emodb, bab, snr)
        f, sp = scene_features(x)
        k = min(len(sp), scene.n_frames)
        out.append({"f": f[:k], "vad": sp[:k], "ref_sp": scene.speech[:k], "ref_ov": scene.overlap[:k], "snr": snr})
        print(f"{'held' if held else 'train'} scene {i + 1}/{n} snr {snr:g} true share "
              f"{scene.overlap.sum() / max(1, scene.speech.sum()):.3f}", file=sys.stderr, flush=True)
    return out


def frame_pr(pred: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    tp = float((pred & ref).sum())
    return {"precision": round(tp / max(1.0, pred.sum()), 3), "recall": round(tp / max(1.0, ref.sum()), 3)}


def true_share(s: dict) -> float:
    return float(s["ref_ov"].sum() / max(1, s["ref_sp"].sum()))


def share_errors(scenes: list[dict], pred: list[np.ndarray], prior: float) -> dict[str, float]:
    """overlap_share per 60 s scene: ours = overlap frames / detected speech; truth from the reference."""
    true = np.array([true_share(s) for s in scenes])
    est = np.array([(p & s["vad"]).sum() / max(1, s["vad"].sum()) for p, s in zip(pred, scenes, strict=True)])
    return {"share_mae": round(float(np.mean(np.abs(est - true))), 4),
            "prior_baseline_mae": round(float(np.mean(np.abs(prior - true))), 4),
            "zero_baseline_mae": round(float(np.mean(true)), 4),
            "share_corr": round(float(np.corrcoef(est, true)[0, 1]), 3) if true.std() > 0 and est.std() > 0 else None,
            "true_share_mean": round(float(true.mean()), 4), "est_share_mean": round(float(est.mean()), 4)}


def report(scenes: list[dict], proba, threshold: float, prior: float) -> dict:  # noqa: ANN001 - callable
    preds = [(proba(s["f"]) >= threshold) & s["vad"] for s in scenes]
    res = {**frame_pr(np.concatenate(preds), np.concatenate([s["ref_ov"] & s["vad"] for s in scenes])),
           **share_errors(scenes, preds, prior)}
    for snr in SNRS:
        sub = [i for i, s in enumerate(scenes) if s["snr"] == snr]
        res[f"snr{snr:g}"] = {**frame_pr(np.concatenate([preds[i] for i in sub]),
                                         np.concatenate([scenes[i]["ref_ov"] & scenes[i]["vad"] for i in sub])),
                              **share_errors([scenes[i] for i in sub], [preds[i] for i in sub], prior)}
    return res


def pick_threshold(scenes: list[dict], proba) -> float:  # noqa: ANN001 - callable
    """Threshold with the smallest overlap_share error over the training scenes (the published number)."""
    probs = [proba(s["f"]) for s in scenes]

    def mae(t: float) -> float:
        return float(np.mean([abs(((p >= t) & s["vad"]).sum() / max(1, s["vad"].sum()) - true_share(s))
                              for p, s in zip(probs, scenes, strict=True)]))

    return float(min(np.arange(0.2, 0.9, 0.025), key=mae))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ser", default="../shared/data/ser")
    ap.add_argument("--train", type=int, default=120)
    ap.add_argument("--held", type=int, default=32)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--out", default="models/overlap/overlap_mlp.npz")
    ap.add_argument("--cache", default="", help="npz to reuse generated features (bench/out/…)")
    a = ap.parse_args(argv)
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    if a.cache and os.path.exists(a.cache):
        with np.load(a.cache, allow_pickle=True) as z:  # our own cache file, written below
            tr, he = list(z["tr"]), list(z["he"])
    else:
        tr = build(a.train, a.seed, False, a.ser)
        he = build(a.held, a.seed + 1000, True, a.ser)
        if a.cache:
            np.savez(a.cache, tr=np.array(tr, dtype=object), he=np.array(he, dtype=object))
    X = np.concatenate([s["f"][s["vad"]] for s in tr])
    y = np.concatenate([s["ref_ov"][s["vad"]] for s in tr])
    mean, scale = X.mean(axis=0), X.std(axis=0) + 1e-9
    prior = float(np.mean([true_share(s) for s in tr]))
    res: dict = {"train_prior_share": round(prior, 4), "train_frames": int(len(y)), "train_overlap_frames": int(y.sum()),
                 "train_scenes": len(tr), "held_out_scenes": len(he)}

    lr = LogisticRegression(max_iter=2000).fit((X - mean) / scale, y)
    lr_p = lambda F: lr.predict_proba((np.nan_to_num(F) - mean) / scale)[:, 1]  # noqa: E731
    t_lr = pick_threshold(tr, lr_p)
    res["logistic_held_out"] = {"threshold": round(t_lr, 3), **report(he, lr_p, t_lr, prior)}

    mlp = MLPClassifier(hidden_layer_sizes=(16,), alpha=1e-3, max_iter=200, early_stopping=True,
                        random_state=0).fit((X - mean) / scale, y)
    arrays = {"mean": mean, "scale": scale, "w1": mlp.coefs_[0], "b1": mlp.intercepts_[0], "w2": mlp.coefs_[1][:, 0],
              "b2": mlp.intercepts_[1], "threshold": np.float64(0.5), "train_prior_share": np.float64(prior),
              "feature_names": np.array(ov.FEATURE_NAMES), "version": np.array("overlap-mlp-1.0.0")}
    model = ov.OverlapModel(arrays)
    t = pick_threshold(tr, model.predict)
    arrays["threshold"] = np.float64(t)
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    np.savez(a.out, **{k: np.asarray(v, dtype=np.float32) if np.asarray(v).dtype.kind == "f" and np.asarray(v).ndim
                       else v for k, v in arrays.items()})
    model = ov.OverlapModel.load(a.out)  # score what was written, as the box will load it
    res["threshold"] = round(t, 3)
    res["train"] = report(tr, model.predict, model.threshold, prior)
    res["held_out"] = report(he, model.predict, model.threshold, prior)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
