"""File sources with ``loop``: a recording replayed as a live room keeps going with monotonic time."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import soundfile as sf

from edge_agent.config import AgentConfig
from edge_agent.sources.audio import open_audio_source
from edge_agent.sources.video import open_video_source


def _video(path, seconds=2, fps=10):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (64, 48))
    for i in range(seconds * fps):
        w.write(np.full((48, 64, 3), i * 5 % 255, np.uint8))
    w.release()
    return path


def test_video_file_loops_with_monotonic_media_time(tmp_path):
    path = str(_video(tmp_path / "v.avi"))
    once = list(open_video_source(path, target_fps=2).frames())
    assert 3 <= len(once) <= 5 and once[-1].ts < 2.0  # without loop the file ends
    looped = list(itertools.islice(open_video_source(path, target_fps=2, loop=True).frames(), 3 * len(once)))
    ts = [f.ts for f in looped]
    assert len(looped) == 3 * len(once) and ts[-1] > 4.0
    gaps = np.diff(ts)
    assert (gaps > 0).all() and gaps.max() < 0.6  # monotonic, no jump at the seams


def test_audio_file_loops_and_keeps_time_across_the_seam(tmp_path):
    for rate in (16000, 48000):  # 48 kHz goes through the streaming resampler
        p = tmp_path / f"a{rate}.wav"
        sf.write(p, (0.1 * np.sin(np.arange(int(1.2 * rate)) / 7)).astype(np.float32), rate)
        once = list(open_audio_source(str(p), 16000, 0.5).chunks())
        assert sum(len(c.samples) for c in once) == int(1.2 * 16000) or rate != 16000
        chunks = list(itertools.islice(open_audio_source(str(p), 16000, 0.5, loop=True).chunks(), 8))
        assert len(chunks) == 8 and all(len(c.samples) == 8000 for c in chunks)  # full chunks across seams
        assert [round(c.ts, 3) for c in chunks] == [0.5 * i for i in range(8)]


def test_loop_is_off_by_default_and_set_per_source():
    cfg = AgentConfig.model_validate({"device": {"id": "cp-x", "site": "s", "room": "r"},
                                      "video": {"source": "a.mp4", "loop": True}})
    assert cfg.video.loop and not cfg.audio.loop
