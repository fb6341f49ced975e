"""Train, evaluate (leave-one-speaker-out) and export the voice-tone model (EmoDB classes).

Reproduce (repo root, ``train`` extra in its own venv):
    python models/voice/train.py --data ../shared/data/ser/emodb/train --out models/voice

Features: ``edge_agent.audio.features.utterance_features`` (the same code runs on the box).
Augmentation of the training folds: additive pink/babble-like noise at 10–20 dB SNR and ±8 %
speed perturbation. Models compared by leave-one-speaker-out unweighted average recall (UAR):
logistic regression (the baseline family) and a small MLP; the winner is refit on all speakers
and exported as a float TFLite model whose first layer folds in the feature standardisation.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from edge_agent.audio.features import SR, utterance_features  # noqa: E402

CLASSES = ["angry", "boredom", "disgust", "fear", "happy", "neutral", "sad"]


def load(folder: Path) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    import soundfile as sf
    import soxr

    rows = list(csv.DictReader((folder / "labels.csv").open(encoding="utf-8")))
    audio, labels, speakers = [], [], []
    for r in rows:
        y, sr = sf.read(folder / r["file"], dtype="float32", always_2d=True)
        y = y.mean(axis=1)
        if sr != SR:
            y = soxr.resample(y, sr, SR).astype(np.float32)
        audio.append(y)
        labels.append(CLASSES.index(r["emotion"]))
        speakers.append(r["speaker"])
    return audio, np.array(labels), np.array(speakers)


def trim(y: np.ndarray) -> np.ndarray:
    """Drop the digital-silence padding of this corpus copy (clips were zero-padded to 2 s)."""
    nz = np.flatnonzero(np.abs(y) > 1e-4)
    return y[nz[0]:nz[-1] + 1] if nz.size else y


def augment(y: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    import soxr

    out = []
    n = rng.standard_normal(len(y)).astype(np.float32)
    spec = np.fft.rfft(n) / np.sqrt(np.maximum(np.arange(len(n) // 2 + 1), 1))
    pink = np.fft.irfft(spec, n=len(n)).astype(np.float32)
    snr = rng.uniform(10, 20)
    pink *= np.sqrt((y ** 2).mean()) / (np.sqrt((pink ** 2).mean()) + 1e-9) / 10 ** (snr / 20)
    out.append(y + pink)
    rate = rng.choice([0.92, 1.08])
    out.append(soxr.resample(y, SR, int(SR * rate)).astype(np.float32))
    return out


def uar(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean([(p[y == c] == c).mean() for c in np.unique(y)]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", default="models/voice")
    args = ap.parse_args()
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler
    from tqdm import tqdm

    t0 = time.time()
    audio, y, spk = load(Path(args.data))
    rng = np.random.default_rng(3)
    X = np.stack([utterance_features(trim(a)) for a in tqdm(audio, desc="features", file=sys.stderr)])
    aug = [[utterance_features(trim(b)) for b in augment(trim(a), rng)]
           for a in tqdm(audio, desc="augmented", file=sys.stderr)]
    Xa = np.stack([v for pair in aug for v in pair])
    ya = np.repeat(y, 2)
    spka = np.repeat(spk, 2)

    def make(kind: str):  # noqa: ANN202
        if kind.startswith("lr"):
            return LogisticRegression(C=float(kind[3:]), max_iter=3000, class_weight="balanced")
        return MLPClassifier(hidden_layer_sizes=(64,), alpha=float(kind[4:]), max_iter=800, random_state=0,
                             early_stopping=False)

    results = {}
    loso_preds = {}
    for kind in ("lr_0.1", "lr_0.3", "lr_1.0", "mlp_1.0", "mlp_3.0"):
        for use_aug in (False, True):
            preds = np.zeros_like(y)
            for s in np.unique(spk):
                tr, te = spk != s, spk == s
                Xtr, ytr = X[tr], y[tr]
                if use_aug:
                    Xtr = np.vstack([Xtr, Xa[spka != s]])
                    ytr = np.concatenate([ytr, ya[spka != s]])
                sc = StandardScaler().fit(Xtr)
                m = make(kind).fit(sc.transform(Xtr), ytr)
                preds[te] = m.predict(sc.transform(X[te]))
            loso_preds[f"{kind}{'+aug' if use_aug else ''}"] = preds.copy()
            results[f"{kind}{'+aug' if use_aug else ''}"] = {"uar": round(uar(y, preds), 4),
                                                             "accuracy": round(float((preds == y).mean()), 4)}
            print(kind, use_aug, results[f"{kind}{'+aug' if use_aug else ''}"], file=sys.stderr)
    best = max(results, key=lambda k: results[k]["uar"])
    kind, use_aug = best.split("+")[0], best.endswith("+aug")
    Xtr = np.vstack([X, Xa]) if use_aug else X
    ytr = np.concatenate([y, ya]) if use_aug else y
    sc = StandardScaler().fit(Xtr)
    model = make(kind).fit(sc.transform(Xtr), ytr)

    import tensorflow as tf

    L = tf.keras.layers
    inp = L.Input((X.shape[1],))
    # fold standardisation into a fixed affine layer
    norm = L.Dense(X.shape[1], use_bias=True, trainable=False, name="standardise")
    x = norm(inp)
    if kind.startswith("lr"):
        dense = L.Dense(7, activation="softmax")
        out = dense(x)
        keras = tf.keras.Model(inp, out)
        dense.set_weights([model.coef_.T.astype(np.float32), model.intercept_.astype(np.float32)])
    else:
        h = L.Dense(model.coefs_[0].shape[1], activation="relu")
        o = L.Dense(7, activation="softmax")
        out = o(h(x))
        keras = tf.keras.Model(inp, out)
        h.set_weights([model.coefs_[0].astype(np.float32), model.intercepts_[0].astype(np.float32)])
        o.set_weights([model.coefs_[1].astype(np.float32), model.intercepts_[1].astype(np.float32)])
    norm.set_weights([np.diag(1 / sc.scale_).astype(np.float32), (-sc.mean_ / sc.scale_).astype(np.float32)])
    check = keras.predict(X[:20], verbose=0).argmax(1)
    assert (check == model.predict(sc.transform(X[:20]))).all()
    conv = tf.lite.TFLiteConverter.from_keras_model(keras)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "voice_tone.tflite").write_bytes(conv.convert())
    bp = loso_preds[best]
    per_class = {c: round(float((bp[y == i] == i).mean()), 4) for i, c in enumerate(CLASSES)}
    per_speaker = {s: round(uar(y[spk == s], bp[spk == s]), 4) for s in sorted(set(spk))}
    cm = np.zeros((7, 7), int)
    for t, q in zip(y, bp, strict=True):
        cm[t, q] += 1
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.imshow(cm / cm.sum(axis=1, keepdims=True), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(7), CLASSES, rotation=45, ha="right")
    ax.set_yticks(range(7), CLASSES)
    for i in range(7):
        for j in range(7):
            ax.text(j, i, cm[i, j], ha="center", va="center", fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"voice tone, leave-one-speaker-out (UAR {results[best]['uar']:.2f})")
    fig.tight_layout()
    fig.savefig(out_dir / "confusion_loso.png", dpi=100)
    report_extra = {"per_class_recall_loso": per_class, "uar_by_speaker_loso": per_speaker,
                    "confusion_loso": cm.tolist()}
    report = {**report_extra, "loso": results, "chosen": best, "n_features": int(X.shape[1]), "n_files": int(len(y)),
              "minutes": round((time.time() - t0) / 60, 1)}
    (out_dir / "train_report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({"chosen": best, **results[best]}))


if __name__ == "__main__":
    main()
