"""Start a training run from a shipped float16 expression model instead of from random weights.

Why: the Keras checkpoint of a run is not kept (only its TFLite exports are), and a full run costs hours
on a 2-core machine without AVX-512. The float16 twin holds every weight: the converter folded each
batch-norm into the convolution before it, so its conv kernels and biases load into ``train.build``'s
network with every batch-norm set to the identity plus that bias and frozen. The loaded network is
checked against the TFLite file on real faces before training goes on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def tflite_weights(path: Path) -> tuple[list[tuple[np.ndarray, np.ndarray]], tuple[np.ndarray, np.ndarray]]:
    """(kernel HWIO, bias) of every CONV_2D in graph order, and the dense layer's (kernel, bias)."""
    import tensorflow as tf

    it = tf.lite.Interpreter(model_path=str(path))
    it.allocate_tensors()
    ops = it._get_ops_details()  # noqa: SLF001 - the only API that lists a graph's operators
    source = {int(o["outputs"][0]): int(o["inputs"][0]) for o in ops if o["op_name"] == "DEQUANTIZE"}

    def const(i: int) -> np.ndarray:
        return it.get_tensor(source.get(i, i)).astype(np.float32)

    convs, dense = [], None
    for o in ops:
        if o["op_name"] == "CONV_2D":
            w, b = const(int(o["inputs"][1])), const(int(o["inputs"][2]))
            convs.append((w.transpose(1, 2, 3, 0), b))  # OHWI -> HWIO
        elif o["op_name"] == "FULLY_CONNECTED":
            dense = (const(int(o["inputs"][1])).T, const(int(o["inputs"][2])))
    if dense is None or not convs:
        raise SystemExit(f"{path}: not an expression model (no convolutions or no dense layer)")
    return convs, dense


def load_folded(model, path: Path) -> None:  # noqa: ANN001 - a tf.keras.Model from train.build
    """Put the file's folded weights into ``model`` and freeze its batch-norms as identity + bias."""
    import tensorflow as tf

    L = tf.keras.layers
    convs, (dk, db) = tflite_weights(path)
    bn_after = {}
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            bn_after[id(layer.input._keras_history[0])] = layer  # noqa: SLF001 - the layer feeding it
    pending = list(convs)
    for layer in (la for la in model.layers if isinstance(la, L.Conv2D)):
        shape = tuple(layer.kernel.shape)
        k = next((i for i, (w, _) in enumerate(pending) if w.shape == shape), None)
        if k is None:
            raise SystemExit(f"{path}: no convolution of shape {shape} left for {layer.name} (other width?)")
        w, b = pending.pop(k)  # same shapes come in the same order in both graphs
        layer.set_weights([w])
        bn = bn_after[id(layer)]
        one = np.ones_like(b)
        bn.set_weights([one, b, np.zeros_like(b), one - bn.epsilon])
        bn.trainable = False  # runs in inference mode: identity + bias, as in the file
    dense = next(la for la in model.layers if isinstance(la, L.Dense))
    dense.set_weights([dk, db])


def check_against(model, path: Path, faces: np.ndarray, atol: float = 0.02) -> float:  # noqa: ANN001
    """Largest probability difference between the Keras network and the TFLite file on ``faces``
    (float input as ``expression_input`` gives it); fails loudly beyond ``atol``."""
    import tensorflow as tf

    it = tf.lite.Interpreter(model_path=str(path))
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    ref = []
    for f in faces:
        it.set_tensor(inp["index"], f[None].astype(np.float32))
        it.invoke()
        ref.append(it.get_tensor(out["index"])[0])
    diff = float(np.abs(model.predict(faces, verbose=0) - np.array(ref)).max())
    if diff > atol:
        raise SystemExit(f"warm start from {path} does not reproduce it (max probability difference {diff:.3f})")
    return diff
