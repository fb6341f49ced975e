"""``edge-agent eval voice --data DIR``: accuracy, UAR, per-class recall and real-time factor of the tone model.

DIR holds ``labels.csv`` (file, emotion, …) and the audio files; every file is scored.
RTF = processing time (decode excluded) / audio duration, one thread.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

from classpulse_contract import TONE_CLASSES
from edge_agent.audio.tone import ToneClassifier
from edge_agent.sources.audio import load_audio_file


def run(data: Path, manifest: Path | None = None, threads: int = 1) -> dict:
    from tqdm import tqdm

    rows = list(csv.DictReader((data / "labels.csv").open(encoding="utf-8")))
    clf = ToneClassifier(manifest, threads)
    clf.predict(np.zeros(16000, np.float32) + 1e-3)  # warm up (JIT of the feature code)
    y, p = [], []
    proc = dur = 0.0
    for r in tqdm(rows, desc="voice", file=sys.stderr):
        if r["emotion"] not in TONE_CLASSES:
            raise ValueError(f"{r['file']}: unknown class {r['emotion']!r}")
        audio = load_audio_file(str(data / r["file"]), 16000)
        t0 = time.perf_counter()
        probs = clf.predict(audio)
        proc += time.perf_counter() - t0
        dur += len(audio) / 16000
        y.append(TONE_CLASSES.index(r["emotion"]))
        p.append(int(probs.argmax()))
    ya, pa = np.array(y), np.array(p)
    per_class = {c: (round(float((pa[ya == i] == i).mean()), 4) if (ya == i).any() else None)
                 for i, c in enumerate(TONE_CLASSES)}
    recalls = [v for v in per_class.values() if v is not None]
    return {"n": len(ya), "accuracy": round(float((pa == ya).mean()), 4) if len(ya) else None,
            "uar": round(float(np.mean(recalls)), 4) if recalls else None, "per_class": per_class,
            "rtf": round(proc / dur, 4) if dur else None, "model": clf.version}


def main(args: argparse.Namespace) -> int:
    print(json.dumps(run(Path(args.data), Path(args.manifest) if args.manifest else None, args.threads)))
    return 0


if __name__ == "__main__":
    _ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _ap.add_argument("--data", required=True)
    _ap.add_argument("--manifest")
    _ap.add_argument("--threads", type=int, default=1)
    raise SystemExit(main(_ap.parse_args()))
