"""Policy modes: no-emotion never loads the tone model; full publishes a tone mix only with the model present."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from edge_agent.audio.stage import AudioPipelineStage
from edge_agent.config import AgentConfig
from tests._audio_helpers import chunks, noisy_lesson


@pytest.mark.privacy
def test_no_emotion_does_not_import_or_load_tone_model():
    # a fresh interpreter, so nothing else in the test session has imported the tone module already
    code = textwrap.dedent("""
        import sys
        import numpy as np
        from edge_agent.audio.stage import AudioPipelineStage
        from edge_agent.config import AgentConfig
        for policy in ("no-emotion", "off"):
            st = AudioPipelineStage(AgentConfig(policy=policy), None)
            obs = st.process(0.0, (0.1 * np.sin(np.arange(16000) / 5)).astype(np.float32), 16000)
            assert st.tone is None and obs.tone is None and obs.tone_weight == 0.0
            assert "tone" not in st.model_versions()
        bad = [m for m in sys.modules if m.endswith("audio.tone") or m.startswith(("tflite_runtime", "ai_edge_litert", "tensorflow", "librosa"))]
        assert not bad, bad
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]


def test_full_policy_tone_mix_or_says_unavailable():
    st = AudioPipelineStage(AgentConfig(policy="full"), None)
    x, _ = noisy_lesson(10.0)
    obs = [st.process(t, c, 16000) for t, c in chunks(x)]
    toned = [o for o in obs if o.tone is not None]
    if st.tone is None:  # models engineer's tone.py not merged / model missing: said, not faked
        assert st.model_versions()["tone"] == "unavailable" and not toned
        return
    assert toned, "a lesson with >5 s of speech must give at least one tone estimate"
    for o in toned:
        assert o.tone.shape == (7,) and abs(float(o.tone.sum()) - 1) < 1e-3
        assert o.tone_weight >= st.cfg.vad.tone_min_speech_s - 0.05
    assert st.model_versions()["tone"] != "unavailable"
    st.reset_window()
    assert st._tone_len == 0  # no speech kept across windows


def test_stage_output_carries_no_samples():
    st = AudioPipelineStage(AgentConfig(policy="no-emotion"), {"audio": {"teacher": {"level_dbfs": -20}}})
    x, _ = noisy_lesson(10.0)
    o = st.process(0.0, x[:8000], 16000)
    for name in ("speech", "teacher"):
        a = getattr(o, name)
        assert a is not None and a.dtype == bool and len(a) == 50
    assert o.overlap is None  # off by default (vad.overlap; docs/audio.md)
    assert not any(isinstance(v, np.ndarray) and v.dtype.kind == "f" and v.size > 7 for v in
                   (o.speech, o.teacher, o.tone))


@pytest.mark.privacy
def test_stage_keeps_no_audio_between_chunks():
    """After each chunk the stage holds < 32 ms of samples (VAD remainder); nothing else audio-like."""
    st = AudioPipelineStage(AgentConfig(policy="no-emotion"), None)
    x, _ = noisy_lesson(10.0)

    def float_arrays(obj, depth=0):
        for v in vars(obj).values():
            if isinstance(v, np.ndarray) and v.dtype.kind == "f":
                yield v
            elif hasattr(v, "__dict__") and depth < 2 and not callable(v):
                yield from float_arrays(v, depth + 1)
            elif isinstance(v, list):
                yield from (a for a in v if isinstance(a, np.ndarray))

    for t, c in chunks(x, 0.37):
        st.process(t, c, 16000)
        held = sum(a.size for a in float_arrays(st) if a.size > 2 * 128)  # Silero state is 2x128 floats
        assert held < 512 + 160, held
