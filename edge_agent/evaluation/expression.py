"""``edge-agent eval expression --data FILE.npz``: accuracy per class and ms per face of the expression model."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from classpulse_contract import EXPRESSION_CLASSES
from edge_agent.vision.expression import ExpressionClassifier


def run(data: Path, manifest: Path | None = None, threads: int = 1, flip_tta: bool = True) -> dict:
    d = np.load(data)
    if "x_test" not in d or "y_test" not in d:
        raise ValueError(f"{data} must hold x_test (N,48,48) uint8 and y_test")
    x, y = d["x_test"], d["y_test"].astype(int)
    clf = ExpressionClassifier(manifest, threads, flip_tta=flip_tta)
    from tqdm import tqdm

    preds = []
    t0 = time.perf_counter()
    for i in tqdm(range(0, len(x), 256), desc="expression", file=sys.stderr):
        preds.append(clf.predict(x[i:i + 256]).argmax(1))
    ms = 1000 * (time.perf_counter() - t0) / max(1, len(x))
    p = np.concatenate(preds) if preds else np.zeros(0, int)
    per_class = {c: (round(float((p[y == i] == i).mean()), 4) if (y == i).any() else None)
                 for i, c in enumerate(EXPRESSION_CLASSES)}
    return {"n": int(len(y)), "accuracy": round(float((p == y).mean()), 4) if len(y) else None,
            "per_class": per_class, "ms_per_face": round(ms, 3), "model": clf.version, "flip_tta": flip_tta,
            "runtime": clf.runner.runtime}


def main(args: argparse.Namespace) -> int:
    print(json.dumps(run(Path(args.data), Path(args.manifest) if args.manifest else None, args.threads,
                         getattr(args, "flip_tta", True))))
    return 0


if __name__ == "__main__":
    _ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _ap.add_argument("--data", required=True)
    _ap.add_argument("--manifest")
    _ap.add_argument("--threads", type=int, default=1)
    _ap.add_argument("--no-flip-tta", dest="flip_tta", action="store_false")
    raise SystemExit(main(_ap.parse_args()))
