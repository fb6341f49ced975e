"""Audio benchmark: real-time factor of the whole audio path and VAD accuracy vs baselines (one run, 1 thread).

For each ``<file>`` with a ``<file-stem>.ref.csv`` next to it, runs
  * ours: file source → AudioPipelineStage (Silero + hysteresis + noise gate, tone when available)
    → window talk summary,
  * baseline ``silero``: Silero ONNX alone, thresholded at 0.5 (no hysteresis, no gate),
  * baseline ``energy``: the energy VAD against an adaptive floor,
and reports frame accuracy, total-talk-time error and RTF. Last line: one JSON object.

    OMP_NUM_THREADS=1 python bench/audio.py FILE [FILE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from edge_agent.audio.stage import AudioPipelineStage  # noqa: E402
from edge_agent.audio.synth import read_labels  # noqa: E402
from edge_agent.audio.talk import talk_summary  # noqa: E402
from edge_agent.audio.vad import Vad  # noqa: E402
from edge_agent.config import AgentConfig, VadConfig  # noqa: E402
from edge_agent.sources.audio import AudioFileSource  # noqa: E402


def score(mask: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    k = min(len(mask), len(ref))
    m, r = mask[:k], ref[:k]
    return {"frame_accuracy": round(float(np.mean(m == r)), 4),
            "talk_time_error": round(float(m.sum() / max(1, r.sum()) - 1), 4)}


def run_stage(path: str, policy: str) -> tuple[np.ndarray, float, float, dict]:
    cfg = AgentConfig(policy=policy)
    t0 = time.perf_counter()
    stage = AudioPipelineStage(cfg, None)
    src = AudioFileSource(path, 16000, cfg.audio.chunk_s)
    obs = [stage.process(c.ts, c.samples, c.sample_rate) for c in src.chunks()]
    sp = np.concatenate([o.speech for o in obs])
    summary = talk_summary(sp, 0.01)
    el = time.perf_counter() - t0
    tone_s = sum(o.tone_weight for o in obs)
    return sp, el / src.duration_s, tone_s, {**summary, "versions": stage.model_versions()}


def run_vad(path: str, **kw) -> tuple[np.ndarray, float]:  # noqa: ANN003
    src = AudioFileSource(path, 16000, 0.5)
    t0 = time.perf_counter()
    v = Vad(**kw)
    sp = np.concatenate([v(c.samples - c.samples.mean())[0] for c in src.chunks()])
    return sp, (time.perf_counter() - t0) / src.duration_s


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("files", nargs="+")
    ap.add_argument("--policy", default="full", choices=["full", "no-emotion"])
    a = ap.parse_args(argv)
    d = VadConfig()
    out: dict[str, dict] = {}
    for f in a.files:
        ref = read_labels(str(Path(f).with_suffix(".ref.csv")))
        sp, rtf, tone_s, summ = run_stage(f, a.policy)
        sil, sil_rtf = run_vad(f, threshold=0.5, neg_threshold=0.5, min_silence_ms=0, min_speech_ms=10,
                               gate_db=0.0, stay_gate_db=0.0, noise_floor_dbfs=-200.0)
        en, en_rtf = run_vad(f, engine="energy", min_silence_ms=d.min_silence_ms)
        r = {"ours": {**score(sp, ref["speech"]), "rtf": round(rtf, 4), "tone_seconds": round(tone_s, 1)},
             "silero_alone": {**score(sil, ref["speech"]), "rtf": round(sil_rtf, 4)},
             "energy": {**score(en, ref["speech"]), "rtf": round(en_rtf, 4)},
             "summary": summ, "ref_speech_share": round(float(ref["speech"].mean()), 4),
             "ref_turns": talk_summary(ref["speech"], 0.01)["speech_turns"],
             "ref_longest_silence_s": talk_summary(ref["speech"], 0.01)["longest_silence_s"]}
        r["accuracy_vs_energy"] = round(r["ours"]["frame_accuracy"] / max(1e-9, r["energy"]["frame_accuracy"]), 3)
        r["accuracy_vs_silero"] = round(r["ours"]["frame_accuracy"] / max(1e-9, r["silero_alone"]["frame_accuracy"]), 3)
        out[Path(f).stem] = r
        print(Path(f).stem, json.dumps(r), flush=True)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
