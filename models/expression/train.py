"""Train, quantise and export the expression model (FER2013 order), on a 2-core CPU.

Reproduce (from the repo root, with the ``train`` extra in its own venv):
    python models/expression/train.py --data ../shared/data/fer2013/train.npz --out models/expression --epochs 40

Compact residual CNN, on-the-fly augmentation (flip, rotation up to ±10°, shift/crop,
brightness/contrast, random erasing), label smoothing and square-root class weights for the rare
classes. Exports float16 and full-integer int8 TFLite (int8 in and out, representative dataset
from the training set) and reports the accuracy cost of quantisation on the validation split.

Warm start (``--init-from``, models/expression/warm_start.py) continues from a shipped float16 export.
With ``--swa-cycles N`` it then runs N one-epoch cosine cycles and ships the average of the N cycle-end
weights (stochastic weight averaging): the average sits nearer the middle of the minimum than any one
checkpoint, and nothing is picked on the validation split, which is only reported.

Distillation (``--teacher FILE.npz``): a slower teacher's class probabilities for every training face
(``p_train``, mirror-averaged) are mixed into the targets, ``kd_alpha`` × label + (1 − kd_alpha) ×
teacher; unlabelled faces (``x_extra`` with ``p_extra``) learn from the teacher alone. The teacher is
used only here: nothing of it ships, and the student keeps this architecture and its one preprocessing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from edge_agent.inference.preprocess import expression_input  # noqa: E402

#: TF on CPU trains separable convolutions slowly; plain 3×3 convs train ~2× faster here.
SEPARABLE = False
CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def build(tf, width: int = 32):  # noqa: ANN001
    L = tf.keras.layers
    inp = L.Input((48, 48, 1))
    x = inp

    def block(x, f, sep=True):  # noqa: ANN001, ANN202
        conv = L.SeparableConv2D if sep and SEPARABLE else L.Conv2D
        y = conv(f, 3, padding="same", use_bias=False)(x)
        y = L.BatchNormalization()(y)
        y = L.ReLU()(y)
        y = conv(f, 3, padding="same", use_bias=False)(y)
        y = L.BatchNormalization()(y)
        if x.shape[-1] != f:
            x = L.Conv2D(f, 1, use_bias=False)(x)
            x = L.BatchNormalization()(x)
        return L.ReLU()(L.Add()([x, y]))

    x = L.Conv2D(width, 3, padding="same", use_bias=False)(x)
    x = L.BatchNormalization()(x)
    x = L.ReLU()(x)
    x = block(x, width, sep=False)
    x = L.MaxPooling2D()(x)               # 24
    x = block(x, width * 2)
    x = L.MaxPooling2D()(x)               # 12
    x = block(x, width * 4)
    x = L.MaxPooling2D()(x)               # 6
    x = block(x, width * 8)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dropout(0.4)(x)
    out = L.Dense(7, activation="softmax")(x)
    return tf.keras.Model(inp, out)


def augment(tf, x, y, rotate=None):  # noqa: ANN001
    x = tf.image.random_flip_left_right(x)
    if rotate is not None:  # a classroom camera sees tilted heads; the agent's eye-line alignment is not perfect
        x = rotate(x, training=True)
    x = tf.image.random_brightness(x, 0.15)
    x = tf.image.random_contrast(x, 0.7, 1.3)
    # small affine: pad-and-crop shift plus a mild zoom
    x = tf.image.resize_with_crop_or_pad(x, 54, 54)
    x = tf.image.random_crop(x, (tf.shape(x)[0], 48, 48, 1))
    # random erasing of a 12x12 patch with probability 0.5
    b = tf.shape(x)[0]
    cx = tf.random.uniform((b, 1, 1, 1), 0, 48, dtype=tf.int32)
    cy = tf.random.uniform((b, 1, 1, 1), 0, 48, dtype=tf.int32)
    xs = tf.reshape(tf.range(48), (1, 1, 48, 1))
    ys = tf.reshape(tf.range(48), (1, 48, 1, 1))
    patch = (tf.abs(xs - cx) < 6) & (tf.abs(ys - cy) < 6)
    on = tf.random.uniform((b, 1, 1, 1)) < 0.5
    x = tf.where(patch & on, tf.random.uniform(tf.shape(x)), x)
    return tf.clip_by_value(x, 0.0, 1.0), y


def soften(p: np.ndarray, temperature: float) -> np.ndarray:
    """Teacher probabilities at a temperature (T > 1 spreads them, so the student learns the near misses)."""
    q = np.power(np.clip(p.astype(np.float64), 1e-8, 1.0), 1.0 / temperature)
    return (q / q.sum(1, keepdims=True)).astype(np.float32)


def targets(y: np.ndarray, teacher: np.lib.npyio.NpzFile | None, alpha: float, temperature: float,
            cw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Training targets and sample weights: one-hot labels, or labels mixed with the teacher's view.

    Returns (x_extra uint8, target rows for the labelled faces, target rows for x_extra, weights for
    x_extra); the extra faces are weighted by the class weight of the teacher's top class.
    """
    onehot = np.eye(7, dtype=np.float32)[y]
    no_extra = np.zeros((0, 48, 48), np.uint8), np.zeros((0, 7), np.float32), np.zeros(0, np.float32)
    if teacher is None:
        return no_extra[0], onehot, no_extra[1], no_extra[2]
    p_train = teacher["p_train"]
    if p_train.shape != (len(y), 7):
        raise SystemExit(f"teacher p_train has shape {p_train.shape}, expected {(len(y), 7)}")
    t = alpha * onehot + (1.0 - alpha) * soften(p_train, temperature)
    if "x_extra" not in teacher.files:
        return no_extra[0], t, no_extra[1], no_extra[2]
    pe = soften(teacher["p_extra"], temperature)
    return teacher["x_extra"], t, pe, cw[pe.argmax(1)].astype(np.float32)


def running_mean(mean: list[np.ndarray] | None, weights: list[np.ndarray], n: int) -> list[np.ndarray]:
    """Mean of n weight lists, from the mean of the first n − 1 and the n-th (float64, so 8 or 80 terms agree)."""
    w = [np.asarray(v, np.float64) for v in weights]
    if mean is None:
        return w
    return [m + (v - m) / n for m, v in zip(mean, w, strict=True)]


def WeightAverage(tf):  # noqa: ANN001, ANN201, N802 - a Keras callback class needs tf, imported late
    """Running mean of the model's weights at each epoch end (every cycle of the restart schedule ends there)."""

    class _Average(tf.keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.mean: list[np.ndarray] | None = None
            self.n = 0

        def on_epoch_end(self, epoch, logs=None):  # noqa: ANN001
            self.n += 1
            self.mean = running_mean(self.mean, self.model.get_weights(), self.n)

        def average(self) -> list[np.ndarray]:
            if self.mean is None:
                raise SystemExit("no epoch finished: nothing to average")
            return [m.astype(np.float32) for m in self.mean]

    return _Average()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", default="models/expression")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--max-minutes", type=float, default=45.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rotate-deg", type=float, default=10.0, help="random rotation range (0 = off)")
    ap.add_argument("--teacher", help="npz with the teacher's p_train (and optionally x_extra, p_extra)")
    ap.add_argument("--kd-alpha", type=float, default=0.3, help="weight of the label against the teacher")
    ap.add_argument("--kd-temperature", type=float, default=2.0)
    ap.add_argument("--init-from", type=Path, help="a float16 TFLite export of this network to start from "
                    "(models/expression/warm_start.py); its batch-norms stay frozen")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--swa-cycles", type=int, default=0, help="with --init-from: average the weights at the end "
                    "of this many one-epoch cosine cycles (peak --lr) instead of keeping the best epoch")
    args = ap.parse_args()
    if args.swa_cycles and not args.init_from:
        ap.error("--swa-cycles needs --init-from: its batch-norms are frozen, so averaged weights need no new statistics")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.keras.utils.set_random_seed(args.seed)
    d = np.load(args.data)
    xtr, ytr = expression_input(d["x_train"]), d["y_train"].astype(np.int64)
    xva, yva = expression_input(d["x_val"]), d["y_val"].astype(np.int64)
    counts = np.bincount(ytr, minlength=7)
    cw = np.sqrt(counts.max() / counts)
    cw = cw / (cw * counts).sum() * counts.sum()
    teacher = np.load(args.teacher) if args.teacher else None
    x_extra, t_train, t_extra, w_extra = targets(ytr, teacher, args.kd_alpha, args.kd_temperature, cw)
    sample_w = np.concatenate([cw[ytr].astype(np.float32), w_extra])
    xtr = np.concatenate([xtr, expression_input(x_extra)]) if len(x_extra) else xtr
    t_all = np.concatenate([t_train, t_extra])
    rotate = (tf.keras.layers.RandomRotation(args.rotate_deg / 360.0, fill_mode="reflect", seed=1)
              if args.rotate_deg > 0 else None)
    ds = (tf.data.Dataset.from_tensor_slices((xtr, t_all, sample_w)).shuffle(max(30000, len(xtr)), seed=args.seed)
          .batch(args.batch).map(lambda x, y, w: (*augment(tf, x, y, rotate), w), num_parallel_calls=2).prefetch(2))
    val = tf.data.Dataset.from_tensor_slices((xva, tf.one_hot(yva, 7))).batch(512)
    model = build(tf, args.width)
    warm_diff = 0.0
    if args.init_from:
        from warm_start import check_against, load_folded

        load_folded(model, args.init_from)
        warm_diff = check_against(model, args.init_from, xva[:64])
        print(f"warm start from {args.init_from.name}: max probability difference {warm_diff:.4f}", file=sys.stderr)
    per_epoch = int(np.ceil(len(xtr) / args.batch))
    epochs = args.swa_cycles or args.epochs
    if args.swa_cycles:
        sched = tf.keras.optimizers.schedules.CosineDecayRestarts(args.lr, per_epoch, t_mul=1.0, m_mul=1.0, alpha=0.02)
    else:
        sched = tf.keras.optimizers.schedules.CosineDecay(args.lr, epochs * per_epoch, alpha=0.02)
    model.compile(optimizer=tf.keras.optimizers.AdamW(sched, weight_decay=1e-4),
                  loss=tf.keras.losses.CategoricalCrossentropy(label_smoothing=0.1), metrics=["accuracy"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()

    class TimeLimit(tf.keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):  # noqa: ANN001
            if time.time() - t_start > args.max_minutes * 60:
                print(f"time limit reached after epoch {epoch + 1}", file=sys.stderr)
                self.model.stop_training = True

    ckpt = out / "best.keras"
    if args.swa_cycles:
        swa = WeightAverage(tf)
        hist = model.fit(ds, validation_data=val, epochs=epochs, verbose=2, callbacks=[swa, TimeLimit()])
        model.set_weights(swa.average())
        model.save(str(ckpt))
    else:
        hist = model.fit(ds, validation_data=val, epochs=epochs, verbose=2, callbacks=[
            tf.keras.callbacks.ModelCheckpoint(str(ckpt), monitor="val_accuracy", save_best_only=True),
            tf.keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=8, restore_best_weights=False),
            TimeLimit()])
    model = tf.keras.models.load_model(str(ckpt))
    p = model.predict(xva, batch_size=512, verbose=0)
    pf = model.predict(xva[:, :, ::-1], batch_size=512, verbose=0)
    acc = float((p.argmax(1) == yva).mean())
    acc_tta = float(((p + pf).argmax(1) == yva).mean())

    from export import export  # models/expression/export.py: the one int8 + float16 export path

    export(model, d["x_train"][np.random.default_rng(0).choice(len(d["x_train"]), 400, replace=False)], out)
    report = {"val_accuracy_keras": round(acc, 4), "val_accuracy_keras_tta_flip": round(acc_tta, 4),
              "epochs_run": len(hist.history["loss"]), "width": args.width,
              "train_minutes": round((time.time() - t_start) / 60, 1), "params": int(model.count_params()),
              "seed": args.seed, "lr": args.lr}
    if not args.swa_cycles:  # the averaged model is no epoch's: nothing was picked
        report["best_epoch"] = int(np.argmax(hist.history["val_accuracy"])) + 1
    if args.swa_cycles:
        report["swa"] = {"cycles": len(hist.history["loss"]), "peak_lr": args.lr,
                         "val_accuracy_per_cycle": [round(v, 4) for v in hist.history["val_accuracy"]]}
    if args.init_from:
        report["warm_start"] = {"file": args.init_from.name, "max_probability_difference": round(warm_diff, 4)}
    if teacher is not None:
        report["distillation"] = {"teacher_file": Path(args.teacher).name, "kd_alpha": args.kd_alpha,
                                  "kd_temperature": args.kd_temperature, "extra_faces": int(len(x_extra))}
    (out / "train_report.json").write_text(json.dumps(report, indent=2))
    ckpt.unlink(missing_ok=True)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
