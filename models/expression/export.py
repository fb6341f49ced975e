"""Export a trained expression checkpoint (``.keras``) to full-integer int8 and float16 TFLite.

Reproduce (repo root, ``train`` extra):
    python models/expression/export.py --checkpoint models/expression/best.keras \
        --data ../shared/data/fer2013/train.npz --out models/expression

Used to ship the best checkpoint of a run that is still going (or was stopped); ``train.py`` does the
same conversion at the end of a complete run. The representative set is 400 training faces passed
through the one preprocessing function, so int8 scales match what the box feeds the model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from edge_agent.inference.preprocess import expression_input  # noqa: E402


def export(model, rep_faces_u8: np.ndarray, out: Path) -> dict[str, int]:  # noqa: ANN001 - a tf.keras.Model
    import tensorflow as tf

    rep = expression_input(rep_faces_u8)

    def rep_data():  # noqa: ANN202
        for i in range(len(rep)):
            yield [rep[i:i + 1]]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep_data
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    out.mkdir(parents=True, exist_ok=True)
    (out / "expression_int8.tflite").write_bytes(conv.convert())
    conv16 = tf.lite.TFLiteConverter.from_keras_model(model)
    conv16.optimizations = [tf.lite.Optimize.DEFAULT]
    conv16.target_spec.supported_types = [tf.float16]
    (out / "expression_f16.tflite").write_bytes(conv16.convert())
    return {f.name: f.stat().st_size for f in out.glob("expression_*.tflite")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("models/expression"))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    model = tf.keras.models.load_model(str(args.checkpoint))
    d = np.load(args.data)
    rep = d["x_train"][np.random.default_rng(0).choice(len(d["x_train"]), 400, replace=False)]
    sizes = export(model, rep, args.out)
    print(json.dumps({"exported": sizes, "params": int(model.count_params())}))


if __name__ == "__main__":
    main()
