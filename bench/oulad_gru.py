"""The GRU half of ``bench/oulad_sequence.py``; runs in a TensorFlow venv (numpy + tensorflow only).

Usage (called by oulad_sequence.py): python bench/oulad_gru.py IN.npz OUT.npz CONFIG_JSON
IN holds seq_tr/seq_te (students, bins, channels; padding bins all zero), sta_tr/sta_te (static), y_tr and,
for ``gru_stack``, lgbm_tr (out-of-presentation LightGBM scores) and lgbm_te. OUT: test probabilities per variant.
One thread, a small model and few epochs: the machine is shared.
"""

from __future__ import annotations

import json
import sys

import numpy as np


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p)).astype(np.float32)


def _standardise(tr: np.ndarray, te: np.ndarray, real_tr: np.ndarray | None = None,
                 real_te: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Zero mean, unit variance from the training rows, clipped; padding steps stay exactly zero (masked).

    A channel (nearly) constant in training keeps scale 1: dividing by a tiny spread would blow up test values
    (e.g. early hand-ins that no training module has) and saturate every prediction.
    """
    flat = tr if real_tr is None else tr[real_tr > 0]
    mu, sd = flat.mean(0), flat.std(0)
    sd = np.where(sd < 1e-2, 1.0, sd)
    if real_tr is None:
        return np.clip((tr - mu) / sd, -8, 8).astype(np.float32), np.clip((te - mu) / sd, -8, 8).astype(np.float32)
    mu[0], sd[0] = 0.0, 1.0  # the "real" channel stays 1, so a real step is never all zero
    return tuple(np.clip((x - mu) / sd, -8, 8).astype(np.float32) * r[..., None]  # type: ignore[return-value]
                 for x, r in ((tr, real_tr), (te, real_te)))


def main() -> None:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    src, dst, cfg = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    z = dict(np.load(src))
    seq_tr, seq_te = _standardise(z["seq_tr"], z["seq_te"], z["seq_tr"][..., 0], z["seq_te"][..., 0])
    sta_tr, sta_te = _standardise(z["sta_tr"], z["sta_te"])
    out = {}
    for variant in cfg["variants"]:
        tf.keras.utils.set_random_seed(cfg["seed"])
        s_tr, s_te = sta_tr, sta_te
        if variant == "gru_stack":
            s_tr = np.column_stack([s_tr, _logit(z["lgbm_tr"])])
            s_te = np.column_stack([s_te, _logit(z["lgbm_te"])])
        seq_in = tf.keras.Input(seq_tr.shape[1:])
        sta_in = tf.keras.Input(s_tr.shape[1:])
        h = tf.keras.layers.GRU(cfg["units"])(tf.keras.layers.Masking(0.0)(seq_in))
        x = tf.keras.layers.Concatenate()([h, sta_in])
        x = tf.keras.layers.Dense(16, activation="relu")(x)
        x = tf.keras.layers.Dropout(0.2)(x)
        p = tf.keras.layers.Dense(1, activation="sigmoid")(x)
        m = tf.keras.Model([seq_in, sta_in], p)
        m.compile(optimizer=tf.keras.optimizers.Adam(3e-3), loss="binary_crossentropy")
        m.fit([seq_tr, s_tr], z["y_tr"], epochs=cfg["epochs"], batch_size=512, verbose=0, shuffle=True)
        out[variant] = m.predict([seq_te, s_te], batch_size=2048, verbose=0)[:, 0]
        if not np.isfinite(out[variant]).all() or np.ptp(out[variant]) < 1e-6:
            raise SystemExit(f"{variant}: degenerate predictions (NaN or constant)")
    np.savez(dst, **out)


if __name__ == "__main__":
    main()
