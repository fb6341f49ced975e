"""Load TFLite models with ``tflite_runtime`` (2.14, numpy<2) or its successor ``ai_edge_litert``.

Both expose the same ``Interpreter`` API; whichever is installed is used, the
older first. The runner hides int8/uint8 quantisation of inputs and outputs so
callers always pass and receive float32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def interpreter_class():  # noqa: ANN201 - the Interpreter type of whichever runtime is present
    try:
        from tflite_runtime.interpreter import Interpreter

        return Interpreter
    except ImportError:
        pass
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError as e:
        raise ImportError("no TFLite runtime: install tflite-runtime==2.14.0 or ai-edge-litert") from e


class TFLiteRunner:
    """One model, one input, one output; batches are run one row at a time unless the model is batched."""

    def __init__(self, path: Path | str, threads: int = 1):
        self.path = Path(path)
        self.interp = interpreter_class()(model_path=str(self.path), num_threads=threads)
        self.interp.allocate_tensors()
        self.inp = self.interp.get_input_details()[0]
        self.out = self.interp.get_output_details()[0]
        self.input_shape = tuple(int(v) for v in self.inp["shape"])

    @staticmethod
    def _quant(x: np.ndarray, detail: dict) -> np.ndarray:
        dtype = detail["dtype"]
        if dtype in (np.int8, np.uint8):
            scale, zero = detail["quantization"]
            info = np.iinfo(dtype)
            return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)
        return x.astype(dtype)

    @staticmethod
    def _dequant(y: np.ndarray, detail: dict) -> np.ndarray:
        if detail["dtype"] in (np.int8, np.uint8):
            scale, zero = detail["quantization"]
            return (y.astype(np.float32) - zero) * scale
        return y.astype(np.float32)

    def run(self, x: np.ndarray) -> np.ndarray:
        """x: (N, *input_shape[1:]) float32 → (N, *output_shape[1:]) float32."""
        x = np.asarray(x, dtype=np.float32)
        if self.input_shape[0] == x.shape[0] or len(x) == 0:
            rows = [x] if len(x) else []
        else:
            rows = [x[i:i + 1] for i in range(len(x))]
        outs = []
        for r in rows:
            self.interp.set_tensor(self.inp["index"], self._quant(r, self.inp))
            self.interp.invoke()
            outs.append(self._dequant(self.interp.get_tensor(self.out["index"]), self.out))
        if not outs:
            return np.zeros((0, *tuple(int(v) for v in self.out["shape"][1:])), np.float32)
        return np.concatenate(outs, axis=0)
