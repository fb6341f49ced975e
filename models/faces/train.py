"""Train our face detector on a 2-core CPU; resumable; exports int8 and float LiteRT models.

Reproduce the shipped model (repo root, ``train`` extra in its own venv; labels from ``prepare.py``):
    python models/faces/train.py --labels faces_train.json --images WIDER_val/images \
        --work faces_run --epochs 45 --width 0.75
    python models/faces/train.py ... --work faces_run --epochs 85 --width 0.75   # resumes: a warm restart
    python models/faces/train.py ... --work faces_run --width 0.75 --export models/faces
(the last writes ``face_int8.tflite``, which ships, and its float twin ``face_f32.tflite``, which does not).

Anchor-free (FCOS-style) on three grids (strides 8/16/32, ``edge_agent/vision/cpface.py``): every
face is taught to the grid(s) whose size range holds it, at the cells near its centre; focal loss
for the face logit, GIoU for the box, smooth-L1 for MediaPipe's six keypoints (pseudo-labels; faces
without them train only the box). Training crops are 320 px from images scaled 0.3–1.6×, with
flips, colour, blur and low-resolution augmentation, so that faces of 8–40 px are common. State
(weights, optimiser, epoch) is checkpointed every epoch and a rerun resumes from it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time
from pathlib import Path
from queue import Queue

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from edge_agent.vision.cpface import (  # noqa: E402
    KEYPOINT_MIRROR,
    LOG_CLIP,
    N_KEYPOINTS,
    SIZE_RANGES,
    STRIDES,
    grid_centres,
)

CROP = 320
#: A face cut by the crop keeps at least this share of its area to count, else it is ignored.
KEEP_VISIBLE = 0.6


# ----------------------------------------------------------------------------- data
def load_images(labels: dict, images: Path, max_side: int = 1024) -> list[tuple[np.ndarray, dict]]:
    import cv2

    out = []
    for item in labels["images"]:
        bgr = cv2.imread(str(images / item["file"]))
        if bgr is None:
            continue
        f = min(1.0, max_side / max(bgr.shape[:2]))
        if f < 1.0:
            bgr = cv2.resize(bgr, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        faces = np.array([fc["box"] for fc in item["faces"]], np.float32).reshape(-1, 4) * f
        kps = np.full((len(item["faces"]), N_KEYPOINTS, 2), np.nan, np.float32)
        for i, fc in enumerate(item["faces"]):
            if fc["kps"] is not None:
                kps[i] = np.array(fc["kps"], np.float32) * f
        ign = np.array(item["ignore"], np.float32).reshape(-1, 4) * f
        out.append((cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), {"faces": faces, "kps": kps, "ignore": ign}))
    return out


def _xyxy(b: np.ndarray) -> np.ndarray:
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)


def augment(img: np.ndarray, lab: dict, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray,
                                                                             np.ndarray, np.ndarray]:
    """One training crop: (CROP, CROP, 3) uint8, faces (K, 4 xyxy), keypoints (K, 6, 2), ignore (M, 4 xyxy)."""
    import cv2

    faces, kps, ign = _xyxy(lab["faces"]), lab["kps"].copy(), _xyxy(lab["ignore"])
    s = float(np.exp(rng.uniform(np.log(0.3), np.log(1.6))))
    h, w = img.shape[:2]
    if len(faces) and rng.random() < 0.8:  # centre the crop near a face
        f = faces[rng.integers(len(faces))]
        cx, cy = (f[0] + f[2]) / 2 * s + rng.uniform(-0.4, 0.4) * CROP, (f[1] + f[3]) / 2 * s + rng.uniform(-0.4, 0.4) * CROP
    else:
        cx, cy = rng.uniform(0, w * s), rng.uniform(0, h * s)
    tx, ty = CROP / 2 - cx, CROP / 2 - cy
    m = np.array([[s, 0, tx], [0, s, ty]], np.float32)
    fill = tuple(int(v) for v in rng.integers(0, 256, 3)) if rng.random() < 0.5 else (0, 0, 0)
    crop = cv2.warpAffine(img, m, (CROP, CROP), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=fill)

    def tr(b: np.ndarray) -> np.ndarray:
        return b * s + np.array([tx, ty, tx, ty], np.float32)

    faces, ign, kps = tr(faces), tr(ign), kps * s + np.array([tx, ty], np.float32)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
        faces = np.stack([CROP - faces[:, 2], faces[:, 1], CROP - faces[:, 0], faces[:, 3]], axis=1)
        ign = np.stack([CROP - ign[:, 2], ign[:, 1], CROP - ign[:, 0], ign[:, 3]], axis=1)
        kps = kps[:, list(KEYPOINT_MIRROR)]
        kps[..., 0] = CROP - kps[..., 0]
    # visible part; faces mostly outside become ignore regions
    clipped = np.clip(faces, 0, CROP)
    area = (faces[:, 2] - faces[:, 0]) * (faces[:, 3] - faces[:, 1])
    vis = np.clip(clipped[:, 2] - clipped[:, 0], 0, None) * np.clip(clipped[:, 3] - clipped[:, 1], 0, None)
    ok = vis >= KEEP_VISIBLE * np.maximum(area, 1e-6)
    part = (~ok) & (vis > 0)
    ign = np.concatenate([np.clip(ign, 0, CROP), clipped[part]])
    small = np.maximum(faces[:, 2] - faces[:, 0], faces[:, 3] - faces[:, 1]) < 5  # too small to learn
    ign = np.concatenate([ign, clipped[ok & small]])
    keep = ok & ~small
    faces, kps = faces[keep], kps[keep]
    # photometric
    crop = crop.astype(np.float32)
    if rng.random() < 0.8:
        crop = crop * rng.uniform(0.6, 1.4) + rng.uniform(-35, 35)
    if rng.random() < 0.3:
        crop = crop * rng.uniform(0.85, 1.15, 3)
    if rng.random() < 0.1:
        crop[:] = crop.mean(axis=2, keepdims=True)
    crop = np.clip(crop, 0, 255).astype(np.uint8)
    r = rng.random()
    if r < 0.15:  # a low-resolution camera
        f = rng.uniform(0.4, 0.8)
        small_img = cv2.resize(crop, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        crop = cv2.resize(small_img, (CROP, CROP), interpolation=cv2.INTER_LINEAR)
    elif r < 0.25:
        crop = cv2.GaussianBlur(crop, (0, 0), rng.uniform(0.5, 1.2))
    return np.ascontiguousarray(crop), faces, kps, ign


def targets(faces: np.ndarray, kps: np.ndarray, ign: np.ndarray, size: int = CROP) -> dict[str, np.ndarray]:
    """Per-cell targets over all grids (row-major, ``STRIDES`` order): obj (N,), weight (N,), box (N, 4 xyxy),
    positive (N,), keypoints (N, 12), keypoint weight (N,)."""
    obj_t, obj_w, box_t, kp_t, kp_w = [], [], [], [], []
    sizes = np.maximum(faces[:, 2] - faces[:, 0], faces[:, 3] - faces[:, 1]) if len(faces) else np.zeros(0)
    order = np.argsort(-(faces[:, 2] - faces[:, 0]) * (faces[:, 3] - faces[:, 1])) if len(faces) else []
    for s in STRIDES:
        c = grid_centres(size, size, s)
        n = len(c)
        o, wgt, b = np.zeros(n, np.float32), np.ones(n, np.float32), np.zeros((n, 4), np.float32)
        k, kw = np.zeros((n, 2 * N_KEYPOINTS), np.float32), np.zeros(n, np.float32)
        for g in ign:
            inside = (c[:, 0] >= g[0]) & (c[:, 0] <= g[2]) & (c[:, 1] >= g[1]) & (c[:, 1] <= g[3])
            wgt[inside] = 0.0
        lo, hi = SIZE_RANGES[s]
        for i in order:  # big first, so a smaller face wins a shared cell
            f = faces[i]
            gx, gy = (f[0] + f[2]) / 2, (f[1] + f[3]) / 2
            fw, fh = f[2] - f[0], f[3] - f[1]
            rx = max(0.5 * s, min(1.5 * s, fw / 2))
            ry = max(0.5 * s, min(1.5 * s, fh / 2))
            near = (np.abs(c[:, 0] - gx) <= rx) & (np.abs(c[:, 1] - gy) <= ry)
            if not lo <= sizes[i] < hi:
                wgt[near & (o == 0)] = 0.0  # another grid's face: neither positive nor negative here
                continue
            o[near], wgt[near], b[near] = 1.0, 1.0, f
            if np.isfinite(kps[i]).all():
                k[near] = (kps[i][None] - c[near][:, None, :]).reshape(-1, 2 * N_KEYPOINTS) / s
                kw[near] = 1.0
            else:
                kw[near] = 0.0  # no teacher keypoints: the box still trains
        obj_t.append(o)
        obj_w.append(wgt)
        box_t.append(b)
        kp_t.append(k)
        kp_w.append(kw)
    return {"obj": np.concatenate(obj_t), "w": np.concatenate(obj_w), "box": np.concatenate(box_t),
            "kp": np.concatenate(kp_t), "kpw": np.concatenate(kp_w)}


def batches(data: list, batch: int, seed: int, stop: threading.Event) -> Queue:
    """A background thread filling a queue with (images, targets) batches."""
    q: Queue = Queue(maxsize=6)

    def run() -> None:
        rng = np.random.default_rng(seed)
        while not stop.is_set():
            idx = rng.integers(len(data), size=batch)
            imgs, tg = [], []
            for i in idx:
                crop, faces, kps, ign = augment(*data[i], rng)
                imgs.append(crop)
                tg.append(targets(faces, kps, ign))
            q.put((np.stack(imgs).astype(np.float32), {k: np.stack([t[k] for t in tg]) for k in tg[0]}))

    threading.Thread(target=run, daemon=True).start()
    return q


# ----------------------------------------------------------------------------- model
def build_model(width: float = 1.0):  # noqa: ANN201 - a keras.Model
    import keras
    from keras import layers

    def ch(c: int) -> int:
        return max(8, int(round(c * width / 8)) * 8)

    def cbr(x, c, k=3, s=1):  # noqa: ANN001, ANN202
        x = layers.Conv2D(c, k, s, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        return layers.ReLU()(x)

    inp = keras.Input((None, None, 3), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1.0)(inp)
    x = cbr(x, ch(16), s=2)
    x = cbr(x, ch(32), s=2)
    x = cbr(x, ch(32))
    x = cbr(x, ch(48), s=2)
    x = cbr(x, ch(48))
    c3 = cbr(x, ch(48))
    x = cbr(c3, ch(64), s=2)
    c4 = cbr(x, ch(64))
    x = cbr(c4, ch(96), s=2)
    c5 = cbr(x, ch(96))
    n = ch(48)
    p5 = cbr(c5, n, k=1)
    p4 = layers.Add()([cbr(c4, n, k=1), layers.UpSampling2D(2)(p5)])
    p3 = layers.Add()([cbr(c3, n, k=1), layers.UpSampling2D(2)(p4)])
    outs = []
    prior = float(-math.log((1 - 0.01) / 0.01))
    for s, p in zip(STRIDES, (p3, p4, p5), strict=True):
        h = cbr(cbr(p, n), n)
        outs.append(layers.Conv2D(1, 1, name=f"obj{s}", bias_initializer=keras.initializers.Constant(prior))(h))
        outs.append(layers.Conv2D(4, 1, name=f"box{s}")(h))
        outs.append(layers.Conv2D(2 * N_KEYPOINTS, 1, name=f"kps{s}")(h))
    return keras.Model(inp, outs, name="cpface")


def flat(outs, batch: int):  # noqa: ANN001, ANN201
    """Keras outputs → (obj (B, N), box (B, N, 4), kps (B, N, 12)) over all grids, row-major."""
    import tensorflow as tf

    o = tf.concat([tf.reshape(outs[3 * i], (batch, -1)) for i in range(len(STRIDES))], 1)
    b = tf.concat([tf.reshape(outs[3 * i + 1], (batch, -1, 4)) for i in range(len(STRIDES))], 1)
    k = tf.concat([tf.reshape(outs[3 * i + 2], (batch, -1, 2 * N_KEYPOINTS)) for i in range(len(STRIDES))], 1)
    return o, b, k


def loss_fn(outs, tg, centres, strides, batch: int):  # noqa: ANN001, ANN201
    import tensorflow as tf

    o, b, k = flat(outs, batch)
    pos = tg["obj"]
    npos = tf.maximum(tf.reduce_sum(pos), 1.0)
    p = tf.sigmoid(o)
    ce = tf.nn.sigmoid_cross_entropy_with_logits(labels=pos, logits=o)
    pt = pos * p + (1 - pos) * (1 - p)
    alpha = pos * 0.25 + (1 - pos) * 0.75
    focal = tf.reduce_sum(alpha * (1 - pt) ** 2 * ce * tg["w"]) / npos
    d = tf.exp(tf.clip_by_value(b, *LOG_CLIP)) * strides[None, :, None]
    cx, cy = centres[None, :, 0], centres[None, :, 1]
    pb = tf.stack([cx - d[..., 0], cy - d[..., 1], cx + d[..., 2], cy + d[..., 3]], -1)
    gb = tg["box"]
    ix = tf.maximum(tf.minimum(pb[..., 2], gb[..., 2]) - tf.maximum(pb[..., 0], gb[..., 0]), 0)
    iy = tf.maximum(tf.minimum(pb[..., 3], gb[..., 3]) - tf.maximum(pb[..., 1], gb[..., 1]), 0)
    inter = ix * iy
    ap = (pb[..., 2] - pb[..., 0]) * (pb[..., 3] - pb[..., 1])
    ag = (gb[..., 2] - gb[..., 0]) * (gb[..., 3] - gb[..., 1])
    union = ap + ag - inter + 1e-6
    ex = tf.maximum(pb[..., 2], gb[..., 2]) - tf.minimum(pb[..., 0], gb[..., 0])
    ey = tf.maximum(pb[..., 3], gb[..., 3]) - tf.minimum(pb[..., 1], gb[..., 1])
    enc = ex * ey + 1e-6
    giou = inter / union - (enc - union) / enc
    box_l = tf.reduce_sum((1 - giou) * pos) / npos
    kw = tg["kpw"] * pos
    diff = tf.abs(k - tg["kp"])
    sl1 = tf.where(diff < 1.0 / 9, 4.5 * diff * diff, diff - 0.5 / 9)
    kp_l = tf.reduce_sum(tf.reduce_mean(sl1, -1) * kw) / tf.maximum(tf.reduce_sum(kw), 1.0)
    return focal + 2.0 * box_l + 0.5 * kp_l, (focal, box_l, kp_l)


# ----------------------------------------------------------------------------- export
def export(model, data: list, out: Path, rng: np.random.Generator) -> dict[str, int]:  # noqa: ANN001
    import tensorflow as tf

    from edge_agent.vision.cpface import to_input

    def rep():  # noqa: ANN202
        for i in rng.choice(len(data), 120, replace=False):
            img = data[i][0]
            f = 640 / max(img.shape[:2])
            yield [to_input(img, f)]

    out.mkdir(parents=True, exist_ok=True)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    (out / "face_int8.tflite").write_bytes(conv.convert())
    conv32 = tf.lite.TFLiteConverter.from_keras_model(model)
    (out / "face_f32.tflite").write_bytes(conv32.convert())
    return {f.name: f.stat().st_size for f in out.glob("face_*.tflite")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", type=Path, required=True)
    ap.add_argument("--images", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True, help="checkpoints and the training log (resumed)")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--steps", type=int, default=170, help="steps per epoch")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--export", type=Path, default=None, help="only export the last checkpoint to this folder")
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    labels = json.loads(args.labels.read_text())
    if args.export is not None:  # the int8 calibration needs only a sample of the images
        pick = np.random.default_rng(0).choice(len(labels["images"]), 200, replace=False)
        labels["images"] = [labels["images"][i] for i in sorted(pick)]
    t_load = time.time()
    data = load_images(labels, args.images)
    print(json.dumps({"images": len(data), "faces": int(sum(len(d[1]["faces"]) for d in data)),
                      "load_s": round(time.time() - t_load, 1)}), flush=True)
    model = build_model(args.width)
    opt = tf.keras.optimizers.AdamW(learning_rate=args.lr, weight_decay=1e-4, global_clipnorm=5.0)
    epoch = tf.Variable(0, dtype=tf.int64)
    ckpt = tf.train.Checkpoint(model=model, opt=opt, epoch=epoch)
    mgr = tf.train.CheckpointManager(ckpt, str(args.work / "ckpt"), max_to_keep=3)
    if mgr.latest_checkpoint:
        ckpt.restore(mgr.latest_checkpoint).expect_partial()
        print(json.dumps({"resumed": mgr.latest_checkpoint, "epoch": int(epoch.numpy())}), flush=True)
    if args.export is not None:
        sizes = export(model, data, args.export, np.random.default_rng(0))
        print(json.dumps({"exported": sizes, "params": int(model.count_params()), "epoch": int(epoch.numpy())}))
        return
    centres = tf.constant(np.concatenate([grid_centres(CROP, CROP, s) for s in STRIDES]))
    strides = tf.constant(np.concatenate([np.full(len(grid_centres(CROP, CROP, s)), s, np.float32)
                                          for s in STRIDES]))

    @tf.function(jit_compile=False, reduce_retracing=True)
    def step(x, tg, lr):  # noqa: ANN001, ANN202
        opt.learning_rate.assign(lr)
        with tf.GradientTape() as tape:
            outs = model(x, training=True)
            loss, parts = loss_fn(outs, tg, centres, strides, args.batch)
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss, parts

    args.work.mkdir(parents=True, exist_ok=True)
    log = (args.work / "train_log.jsonl").open("a")
    stop = threading.Event()
    q = batches(data, args.batch, seed=int(epoch.numpy()) + 1, stop=stop)
    total = args.epochs * args.steps
    print(json.dumps({"params": int(model.count_params())}), flush=True)
    while int(epoch.numpy()) < args.epochs:
        t0, sums = time.time(), np.zeros(4)
        for i in range(args.steps):
            g = int(epoch.numpy()) * args.steps + i
            warm = min(1.0, (g + 1) / args.steps)
            lr = args.lr * warm * 0.5 * (1 + math.cos(math.pi * g / total))
            x, tg = q.get()
            loss, parts = step(tf.constant(x), {k: tf.constant(v) for k, v in tg.items()}, tf.constant(lr, tf.float32))
            sums += [float(loss), *(float(p) for p in parts)]
        epoch.assign_add(1)
        mgr.save()
        rec = {"epoch": int(epoch.numpy()), "loss": round(sums[0] / args.steps, 4),
               "focal": round(sums[1] / args.steps, 4), "giou": round(sums[2] / args.steps, 4),
               "kps": round(sums[3] / args.steps, 4), "lr": round(lr, 6), "s": round(time.time() - t0, 1)}
        log.write(json.dumps(rec) + "\n")
        log.flush()
        print(json.dumps(rec), flush=True)
    stop.set()


if __name__ == "__main__":
    main()
