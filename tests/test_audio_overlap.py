"""Overlap/crosstalk estimate on generated audio: none vs lots, robustness, policy, nothing written, model integrity."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from classpulse_contract import parse_aggregate
from classpulse_contract.v1 import dumps
from edge_agent.audio.overlap import FEATURE_NAMES, OverlapDetector, OverlapModel
from edge_agent.audio.stage import AudioPipelineStage
from edge_agent.audio.synth import Line, fan_noise, mix_at_snr, pink_noise, render
from edge_agent.config import AgentConfig, EngagementWeights, VadConfig
from edge_agent.inference.manifest import DEFAULT_MANIFEST
from edge_agent.window import WindowContext, audio_summary, build_aggregate
from tests._audio_helpers import chunks

# Voices and sentences the model was not trained on (bench/train_overlap.py trains on other variants).
TALK = [("en-us+m3", "Today we look at the water cycle and how clouds are made.", 35),
        ("en-gb+f3", "Does the rain come from the sea or from the rivers?", 70),
        ("cmn", "水蒸发以后变成水蒸气，然后形成云。", 40),
        ("cmn+f4", "老师，为什么云是白色的？", 75),
        ("en-us+m3", "Good question. It is because of how light is scattered.", 35),
        ("en-gb+f3", "So the clouds are made of tiny drops of water?", 70)]


def on() -> AgentConfig:
    return AgentConfig(policy="no-emotion", vad=VadConfig(overlap=True))


@functools.lru_cache(maxsize=2)
def scene(overlapping: bool):
    """Six lines, either separated by 1 s pauses or each starting 1.5 s before the previous one ends."""
    lines = [Line("teacher" if i % 2 == 0 else "student", v, t, -1.5 if overlapping and i else 1.0, 1.0 if i % 2 == 0 else 0.7,
                  150, p) for i, (v, t, p) in enumerate(TALK)]
    sc = render(lines, 30.0)
    rng = np.random.default_rng(4)
    n = len(sc.clean)
    return mix_at_snr(sc.clean, sc.speech, 0.7 * fan_noise(n, rng) + 0.7 * pink_noise(n, rng), 10.0), sc


def share(x: np.ndarray) -> float:
    stage = AudioPipelineStage(on(), None)
    obs = [stage.process(t, c, 16000) for t, c in chunks(x)]
    return audio_summary(obs)["overlap_share"]


def test_no_overlap_small_share_lots_of_overlap_clearly_larger():
    x0, s0 = scene(False)
    x1, s1 = scene(True)
    assert not s0.overlap.any() and s1.overlap.sum() / s1.speech.sum() > 0.3  # the scenes are what they say
    none, lots = share(x0), share(x1)
    assert none is not None and lots is not None
    assert none < 0.05, none
    assert lots > none + 0.1, (none, lots)  # measured 0.0 vs 0.15 (true 0.45: the estimate under-counts)


def test_overlap_runs_in_no_emotion_and_lands_in_the_aggregate_fields():
    x, _ = scene(True)
    stage = AudioPipelineStage(on(), None)
    o = stage.process(0.0, x[:8000], 16000)
    assert o.overlap is not None and o.overlap.dtype == bool and len(o.overlap) == len(o.speech) == 50
    assert not (o.overlap & ~o.speech).any()  # overlap only inside speech
    assert stage.model_versions()["overlap"].startswith("overlap-mlp")
    assert "tone" not in stage.model_versions()


def test_overlap_share_reaches_the_wire_aggregate():
    x, sc = scene(True)
    stage = AudioPipelineStage(on(), None)
    t0 = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)
    obs = [stage.process(t0.timestamp() + t, c, 16000) for t, c in chunks(x)]
    ctx = WindowContext("school-1", "room-101", "dev-a", "no-emotion", 5, EngagementWeights(), stage.model_versions())
    agg = parse_aggregate(dumps(build_aggregate(ctx, 1, t0, t0 + timedelta(seconds=30), [], obs)))
    assert agg.overlap_share is not None and agg.overlap_share == audio_summary(obs)["overlap_share"] > 0.1
    assert agg.tone_mix is None and "overlap" in agg.model_versions


def test_switched_off_gives_no_overlap_share():
    x, _ = scene(True)
    stage = AudioPipelineStage(AgentConfig(policy="no-emotion", vad=VadConfig(overlap=False)), None)
    obs = [stage.process(t, c, 16000) for t, c in chunks(x[:16000 * 5])]
    assert all(o.overlap is None for o in obs) and audio_summary(obs)["overlap_share"] is None
    assert "overlap" not in stage.model_versions()


@settings(max_examples=40, deadline=None)
@given(arrays(np.float32, st.integers(0, 6000), elements=st.floats(width=32, allow_nan=True, allow_infinity=True)),
       st.integers(0, 2**32 - 1))
def test_random_audio_never_crashes_the_estimator(x, seed):
    det = OverlapDetector(OverlapModel.from_manifest())
    rng = np.random.default_rng(seed)
    for part in (x, x[: len(x) // 2]):
        clean = np.clip(np.nan_to_num(part, nan=0.0, posinf=1.0, neginf=-1.0), -1, 1)
        n = len(clean) // 160 + int(rng.integers(0, 2))  # the VAD may report one frame more than fits
        speech = rng.random(n) < 0.7
        db = rng.uniform(-120, 0, n)
        out = det(clean, speech, db)
        assert out.dtype == bool and len(out) == n and not (out & ~speech).any()
    st_ = AudioPipelineStage(on(), None)
    o = st_.process(0.0, x, 16000)
    assert o.overlap is not None and len(o.overlap) == len(o.speech)


@pytest.mark.privacy
def test_estimator_writes_nothing_and_keeps_no_samples(tmp_path):
    """A fresh interpreter with an audit hook: running the stage with overlap on opens no file for writing."""
    code = textwrap.dedent("""
        import os, sys
        import numpy as np
        writes = []
        def hook(event, args):
            if event == "open" and len(args) > 1 and args[1] is not None:
                mode, flags = args[1], (args[2] if len(args) > 2 else 0)
                if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                        isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)):
                    writes.append(args[0])
            elif event in ("os.mkdir", "os.rename", "os.remove", "shutil.copyfile"):
                writes.append((event, args[0]))
        from edge_agent.audio.stage import AudioPipelineStage
        from edge_agent.config import AgentConfig, EngagementWeights, VadConfig
        from edge_agent.audio.synth import fan_noise
        rng = np.random.default_rng(0)
        t = np.arange(16000 * 6) / 16000
        x = (0.2 * np.sin(2 * np.pi * 140 * t) * (np.sin(2 * np.pi * 0.5 * t) > 0)
             + 0.15 * np.sin(2 * np.pi * 210 * t) + 0.02 * fan_noise(len(t), rng)).astype(np.float32)
        stage = AudioPipelineStage(AgentConfig(policy="no-emotion", vad=VadConfig(overlap=True)), None)
        assert stage.overlap is not None
        sys.addaudithook(hook)
        for i in range(0, len(x), 8000):
            o = stage.process(i / 16000, x[i:i + 8000], 16000)
            assert o.overlap is not None
        held = [v.size for v in vars(stage.overlap).values() if isinstance(v, np.ndarray) and v.dtype.kind == "f"]
        assert sum(held) < 512, held  # feature rows only (15 frames x 9 cues + 15 levels + one running mean)
        assert not writes, writes
        bad = [m for m in sys.modules if m.endswith("audio.tone") or m.startswith(("librosa", "tflite_runtime", "ai_edge_litert", "tensorflow"))]
        assert not bad, bad  # overlap is not emotion: no tone stack in no-emotion
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]
    assert not any(tmp_path.iterdir())


def test_altered_model_file_is_refused_and_talk_time_still_works(tmp_path):
    man = json.loads(DEFAULT_MANIFEST.read_text())
    (tmp_path / "overlap").mkdir()
    src = DEFAULT_MANIFEST.parent / man["models"]["overlap"]["file"]
    dst = tmp_path / man["models"]["overlap"]["file"]
    shutil.copy(src, dst)
    with np.load(dst) as z:
        a = {k: z[k] for k in z.files}
    a["w2"] = a["w2"] * 0 + 5.0  # a tampered model would call everything overlap
    np.savez(dst, **a)
    (tmp_path / "manifest.json").write_text(json.dumps({"schema": man["schema"], "models": {"overlap": man["models"]["overlap"]}}))
    cfg = AgentConfig(policy="no-emotion", vad=VadConfig(overlap=True), models={"manifest": tmp_path / "manifest.json"})
    stage = AudioPipelineStage(cfg, None)
    assert stage.overlap is None and stage.model_versions()["overlap"] == "unavailable"
    x, _ = scene(False)
    obs = [stage.process(t, c, 16000) for t, c in chunks(x[:16000 * 6])]
    assert any(o.speech.any() for o in obs) and audio_summary(obs)["overlap_share"] is None


def test_model_file_matches_the_feature_code():
    m = OverlapModel.from_manifest()
    assert m.w1.shape == (len(FEATURE_NAMES), m.b1.size) and m.w2.size == m.b1.size
    assert 0 < m.threshold < 1 and 0 < m.train_prior_share < 1
