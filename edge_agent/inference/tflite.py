"""Load TFLite models with ``ai_edge_litert`` (LiteRT) or its predecessor ``tflite_runtime`` (2.14, numpy<2).

Both expose the same ``Interpreter`` API. LiteRT is preferred when both are installed: its
XNNPACK delegate runs full-integer int8 models (our expression model) about 5× faster than
tflite-runtime 2.14, whose Python wheel leaves int8 on the reference kernels. The runner hides
int8/uint8 quantisation of inputs and outputs so callers always pass and receive float32.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

Runtime = Literal["auto", "ai_edge_litert", "tflite_runtime"]
RUNTIMES: tuple[str, ...] = ("ai_edge_litert", "tflite_runtime")


def interpreter_class(runtime: Runtime = "auto"):  # noqa: ANN201 - the Interpreter type of the chosen runtime
    """The ``Interpreter`` class of ``runtime``, or of the first installed one of ``RUNTIMES`` for ``auto``."""
    import importlib

    names = RUNTIMES if runtime == "auto" else (runtime,)
    for name in names:
        try:
            return importlib.import_module(f"{name}.interpreter").Interpreter
        except ImportError:
            continue
    raise ImportError(f"no TFLite runtime ({' or '.join(names)}): install ai-edge-litert==1.4.0 or tflite-runtime==2.14.0")


def mediapipe_model(relative: str) -> Path:
    """A model file shipped inside the installed ``mediapipe`` wheel (``relative`` to the package).

    The pinned wheel is the only source of these files: they are loaded in place, never copied
    into this repository nor downloaded.
    """
    from importlib.resources import files

    p = Path(str(files("mediapipe").joinpath(relative)))
    if not p.is_file():
        raise FileNotFoundError(f"{relative} is not in the installed mediapipe package")
    return p


class TFLiteRunner:
    """One model, one input, one output; batches are run one row at a time unless the model is batched."""

    def __init__(self, path: Path | str, threads: int = 1, runtime: Runtime = "auto"):
        self.path = Path(path)
        cls = interpreter_class(runtime)
        self.runtime = cls.__module__.split(".")[0]
        self.interp = cls(model_path=str(self.path), num_threads=threads)
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
