"""Audio benchmark: real-time factor of the whole audio path and VAD accuracy vs baselines (one run, 1 thread).

For each ``<file>`` with a ``<file-stem>.ref.csv`` next to it, runs
  * ours: file source → AudioPipelineStage (Silero on a level-normalised signal + hysteresis + noise
    gate, tone when available) → window talk summary,
  * ``ours_unlevelled``: the same stage with the level normalisation off (``vad.level_target_dbfs: null``,
    the previous default), so the soft-speech change is measured in the same run,
  * baseline ``silero``: Silero ONNX alone, thresholded at 0.5 (no hysteresis, no gate),
  * baseline ``energy``: the energy VAD against an adaptive floor,
and reports frame accuracy, total-talk-time error and RTF. Where the reference has overlap labels
(the ``overlap`` column, or for ``../shared/data/vad/classroom_*`` the utterance intervals in its
``layout.json``), also the overlap estimate: frame precision/recall against reference overlap, and
the error of ``overlap_share`` per 60 s window next to the trivial baseline "always the training
prior share" (stored with the model) and "always 0". Last line: one JSON object.

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

from edge_agent.audio import overlap as ov  # noqa: E402
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


def layout_overlap(path: str, ref_speech: np.ndarray) -> np.ndarray | None:
    """Reference overlap for ../shared/data/vad/classroom_*: frames inside two utterance intervals and speech."""
    lay = Path(path).with_name("layout.json")
    key = Path(path).stem.split("_snr")[0].replace("_clean", "")
    if not lay.exists():
        return None
    segs = json.loads(lay.read_text()).get(key)
    if not segs or not all(isinstance(s[1], (int, float)) and isinstance(s[2], (int, float)) for s in segs):
        return None
    if key != "classroom":  # emodb_layout places clips one after another: no overlap to score
        return None
    count = np.zeros(len(ref_speech), np.int16)
    for _, a, b, _text in segs:
        count[int(round(a * 100)):int(round(b * 100))] += 1
    return (count > 1) & ref_speech


def overlap_scores(sp: np.ndarray, est: np.ndarray, ref_sp: np.ndarray, ref_ov: np.ndarray, prior: float,
                   window_s: float = 60.0) -> dict:
    """Frame precision/recall of overlap and overlap_share error per window vs the training-prior baseline."""
    k = min(len(sp), len(est), len(ref_sp), len(ref_ov))
    sp, est, ref_sp, ref_ov = sp[:k], est[:k] & sp[:k], ref_sp[:k], ref_ov[:k]
    tp = float((est & ref_ov).sum())
    w = int(window_s * 100)
    errs, base, zero, pairs = [], [], [], []
    for i in range(0, k - w + 1, w):
        if not ref_sp[i:i + w].any() or not sp[i:i + w].any():
            continue
        true = ref_ov[i:i + w].sum() / ref_sp[i:i + w].sum()
        got = est[i:i + w].sum() / sp[i:i + w].sum()
        errs.append(abs(got - true))
        base.append(abs(prior - true))
        zero.append(true)
        pairs.append((round(float(true), 3), round(float(got), 3)))
    return {"precision": round(tp / max(1.0, est.sum()), 3), "recall": round(tp / max(1.0, ref_ov.sum()), 3),
            "ref_overlap_frames": int(ref_ov.sum()), "est_overlap_frames": int(est.sum()),
            "share_mae_60s": round(float(np.mean(errs)), 4) if errs else None,
            "prior_baseline_mae_60s": round(float(np.mean(base)), 4) if base else None,
            "zero_baseline_mae_60s": round(float(np.mean(zero)), 4) if zero else None,
            "windows_true_vs_est": pairs}


def run_stage(path: str, policy: str, overlap: bool, **vad: object) -> tuple[np.ndarray, np.ndarray | None, float, float, dict]:
    cfg = AgentConfig(policy=policy, vad=VadConfig(overlap=overlap, **vad))
    t0 = time.perf_counter()
    stage = AudioPipelineStage(cfg, None)
    src = AudioFileSource(path, 16000, cfg.audio.chunk_s)
    obs = [stage.process(c.ts, c.samples, c.sample_rate) for c in src.chunks()]
    sp = np.concatenate([o.speech for o in obs])
    est = np.concatenate([o.overlap for o in obs]) if all(o.overlap is not None for o in obs) else None
    summary = talk_summary(sp, 0.01, overlap=est)
    el = time.perf_counter() - t0
    tone_s = sum(o.tone_weight for o in obs)
    return sp, est, el / src.duration_s, tone_s, {**summary, "versions": stage.model_versions()}


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
    ap.add_argument("--overlap", action=argparse.BooleanOptionalAction, default=True,
                    help="run the crosstalk estimator (vad.overlap) in the stage; default on here to measure it")
    a = ap.parse_args(argv)
    d = VadConfig()
    out: dict[str, dict] = {}
    for f in a.files:
        ref = read_labels(str(Path(f).with_suffix(".ref.csv")))
        sp, est, rtf, tone_s, summ = run_stage(f, a.policy, a.overlap)
        flat, _, flat_rtf, _, _ = run_stage(f, a.policy, False, level_target_dbfs=None)
        sil, sil_rtf = run_vad(f, threshold=0.5, neg_threshold=0.5, min_silence_ms=0, min_speech_ms=10,
                               gate_db=0.0, stay_gate_db=0.0, noise_floor_dbfs=-200.0, level_target_dbfs=None)
        en, en_rtf = run_vad(f, engine="energy", min_silence_ms=d.min_silence_ms)
        r = {"ours": {**score(sp, ref["speech"]), "rtf": round(rtf, 4), "tone_seconds": round(tone_s, 1)},
             "ours_unlevelled": {**score(flat, ref["speech"]), "rtf": round(flat_rtf, 4)},
             "silero_alone": {**score(sil, ref["speech"]), "rtf": round(sil_rtf, 4)},
             "energy": {**score(en, ref["speech"]), "rtf": round(en_rtf, 4)},
             "summary": summ, "ref_speech_share": round(float(ref["speech"].mean()), 4),
             "ref_turns": talk_summary(ref["speech"], 0.01)["speech_turns"],
             "ref_longest_silence_s": talk_summary(ref["speech"], 0.01)["longest_silence_s"]}
        ref_ov = ref.get("overlap")
        if ref_ov is None:
            ref_ov = layout_overlap(f, ref["speech"])
        if est is not None and ref_ov is not None and ref_ov.any():
            r["overlap"] = overlap_scores(sp, est, ref["speech"], ref_ov, ov.OverlapModel.from_manifest().train_prior_share)
        r["accuracy_vs_energy"] = round(r["ours"]["frame_accuracy"] / max(1e-9, r["energy"]["frame_accuracy"]), 3)
        r["accuracy_vs_silero"] = round(r["ours"]["frame_accuracy"] / max(1e-9, r["silero_alone"]["frame_accuracy"]), 3)
        out[Path(f).stem] = r
        print(Path(f).stem, json.dumps(r), flush=True)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
