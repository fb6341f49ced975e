"""Real audio (the sample lesson) through the audio stage into a wire-contract aggregate."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from classpulse_contract import parse_aggregate
from classpulse_contract.v1 import dumps
from edge_agent.audio.stage import AudioPipelineStage
from edge_agent.audio.synth import read_labels
from edge_agent.config import AgentConfig, EngagementWeights
from edge_agent.sources.audio import AudioFileSource
from edge_agent.window import WindowContext, build_aggregate


def test_sample_lesson_becomes_speech_share_and_turns(samples_dir):
    cfg = AgentConfig(policy="full")
    stage = AudioPipelineStage(cfg, None)
    src = AudioFileSource(str(samples_dir / "classroom.wav"), 16000, 0.5)
    t0 = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)
    chunks = [stage.process(t0.timestamp() + c.ts, c.samples, c.sample_rate) for c in src.chunks()]
    ref = read_labels(str(samples_dir / "classroom.ref.csv"))["speech"]
    ctx = WindowContext("school-1", "room-101", "dev-a", cfg.policy, cfg.k_anonymity, EngagementWeights(),
                        stage.model_versions())
    agg = build_aggregate(ctx, 1, t0, t0 + timedelta(seconds=src.duration_s), [], chunks)
    again = parse_aggregate(dumps(agg))
    assert abs(again.speech_share - ref.mean()) < 0.05
    assert again.speech_turns >= 5
    assert again.longest_silence_s is not None and again.longest_silence_s > 1.0
    if stage.tone is not None:
        assert again.tone_mix is not None and abs(sum(again.tone_mix.values()) - 1) < 0.01
    else:
        assert again.tone_mix is None  # no model, no made-up tone mix
    speech = np.concatenate([c.speech for c in chunks])
    assert abs(speech.sum() / ref.sum() - 1) < 0.10
