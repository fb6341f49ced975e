"""Bad audio and device trouble: flags, recovery, never a crash."""

from __future__ import annotations

import threading
import time

import numpy as np
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from edge_agent.audio.stage import AudioPipelineStage, audio_quality
from edge_agent.config import AgentConfig
from edge_agent.sources.audio import AudioFileSource, MicSource


def stage() -> AudioPipelineStage:
    return AudioPipelineStage(AgentConfig(policy="no-emotion"), None)


def test_silence_clipping_dc_flags():
    t = np.arange(8000) / 16000
    assert audio_quality(np.zeros(8000, np.float32)) == {"silent"}
    assert "clipped" in audio_quality(np.clip(3 * np.sin(2 * np.pi * 200 * t), -1, 1).astype(np.float32))
    o = stage().process(0.0, (0.3 + 0.01 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), 16000)
    assert "dc_offset" in o.quality and not o.speech.any()  # DC is removed before VAD


def test_sample_rate_mismatch_is_resampled(tmp_path):
    rng = np.random.default_rng(0)
    x = (0.05 * rng.standard_normal(44100 * 2)).astype(np.float32)
    p = tmp_path / "a.wav"
    sf.write(p, x, 44100)
    src = AudioFileSource(str(p), 16000, 0.5)
    assert src.resampled and src.native_rate == 44100
    got = np.concatenate([c.samples for c in src.chunks()])
    assert abs(len(got) - 32000) <= 2
    o = stage().process(0.0, x[:22050], 44100)  # direct caller at the wrong rate
    assert len(o.speech) == 50


@settings(max_examples=40, deadline=None)
@given(arrays(np.float32, st.integers(0, 4000), elements=st.floats(width=32, allow_nan=True, allow_infinity=True)))
def test_any_samples_never_crash(x):
    o = stage().process(0.0, x, 16000)
    assert len(o.speech) == len(x) // 160


class FlakyBackend:
    """A microphone that delivers, disappears (stream stops, reopen fails twice), then comes back."""

    opens = 0
    fail_next = 0

    def __init__(self):
        if FlakyBackend.fail_next > 0:
            FlakyBackend.fail_next -= 1
            raise OSError("device unplugged")

    def device_index(self, device):
        return None

    def default_rate(self, index):
        return 48000

    def open(self, index, rate, frames, callback):
        if rate != 48000:
            raise OSError("Invalid sample rate")  # like a USB mic that only does 48 kHz
        FlakyBackend.opens += 1
        return _Stream(callback, frames, die_after=6 if FlakyBackend.opens == 1 else 10**9)

    def terminate(self):
        pass


class _Stream:
    def __init__(self, cb, frames, die_after):
        self.active, self.n = True, 0
        t = np.arange(frames) / 48000

        def run():
            while self.active:
                cb((0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), self.n == 2)
                self.n += 1
                if self.n >= die_after:
                    self.active = False
                    FlakyBackend.fail_next = 2
                    return
                time.sleep(0.01)

        threading.Thread(target=run, daemon=True).start()

    def is_active(self):
        return self.active

    def close(self):
        self.active = False


def test_device_loss_and_recovery():
    src = MicSource("default", 16000, 0.05, backend_factory=FlakyBackend, retry_s=0.01, stall_s=0.2)
    kinds, flags = [], set()
    for chunk in src.chunks():
        kinds.append(chunk.samples is not None)
        flags |= chunk.flags
        if chunk.samples is not None:
            assert chunk.sample_rate == 16000 and abs(len(chunk.samples) - 800) <= 2  # 48 kHz resampled
        if len(kinds) > 40 or (src.reopens >= 1 and sum(kinds[-5:]) == 5 and False in kinds):
            break
    src.close()
    assert src.resampled and src.native_rate == 48000
    assert False in kinds, "the outage must be reported as chunks without samples"
    assert src.reopens >= 1 and kinds[-1], "the source must come back after the device returns"
    assert "audio_overflow" in flags and src.overflows >= 1


def test_calibration_cli_from_files(tmp_path, capsys):
    import argparse

    import yaml

    from edge_agent.audio.calibrate import main
    from tests._audio_helpers import noisy_lesson

    x, _ = noisy_lesson(15.0)
    sf.write(tmp_path / "room.wav", x[:14000], 16000)
    sf.write(tmp_path / "teacher.wav", x[16000:16000 * 5], 16000)
    out = tmp_path / "cal.yaml"
    rc = main(argparse.Namespace(room=str(tmp_path / "room.wav"), teacher=str(tmp_path / "teacher.wav"),
                                 seconds=4.0, out=str(out)))
    assert rc == 0
    sec = yaml.safe_load(out.read_text())["audio"]
    assert sec["noise_floor_dbfs"] < sec["teacher"]["level_dbfs"]
    sf.write(tmp_path / "quiet.wav", np.zeros(16000 * 3, np.float32), 16000)
    rc = main(argparse.Namespace(room=str(tmp_path / "room.wav"), teacher=str(tmp_path / "quiet.wav"),
                                 seconds=2.0, out=None))
    assert rc == 2 and "less than 1 s of speech" in capsys.readouterr().err
