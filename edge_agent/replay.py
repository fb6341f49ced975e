"""Offline replay: run the whole edge pipeline on recorded media, write aggregates as JSON lines.

Publishes nothing. Media time is mapped onto wall time from ``start`` so that
windows and ``msg_id`` look exactly like a live run's. The timetable gate is not
applied: replay is an operator's explicit analysis of a recording.
"""

from __future__ import annotations

import heapq
import json
import logging
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from classpulse_contract import Aggregate, dumps
from edge_agent.config import AgentConfig
from edge_agent.stagefactory import load_calibration, make_audio_stage, make_vision_stage
from edge_agent.window import finish_window, window_context
from edge_agent.windowing import OpenWindow, Windower

log = logging.getLogger(__name__)
def replay(cfg: AgentConfig, video: str | None, audio: str | None, out: Path,
           start: datetime | None = None) -> list[Aggregate]:
    if video is None and audio is None:
        raise ValueError("give --video, --audio or both")
    if cfg.policy == "off":
        raise ValueError("policy is 'off': the agent senses nothing, so there is nothing to replay")
    t0 = (start or datetime.now(timezone.utc)).timestamp()
    t0 = t0 - (t0 % cfg.window_s)
    calibration = load_calibration(cfg)
    vstage = make_vision_stage(cfg, calibration) if video else None
    astage = make_audio_stage(cfg, calibration) if audio else None
    events: list[Iterator[tuple[float, int, object]]] = []
    if video:
        from edge_agent.sources.video import VideoFileSource

        vsrc = VideoFileSource(video, cfg.video.target_fps)
        events.append((t0 + f.ts, 0, f) for f in vsrc.frames())
    if audio:
        from edge_agent.sources.audio import AudioFileSource

        asrc = AudioFileSource(audio, cfg.audio.sample_rate, cfg.audio.chunk_s)
        events.append((t0 + c.ts, 1, c) for c in asrc.chunks())
    versions: dict[str, str] = {}
    for st in (vstage, astage):
        if st is not None:
            versions.update(st.model_versions())
    ctx = window_context(cfg, versions, camera=video is not None, mic=audio is not None)
    windower = Windower(cfg.window_s)
    results: list[Aggregate] = []
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:

        def emit(done: list[OpenWindow]) -> None:
            for w in done:
                agg = finish_window(ctx, w, cfg.window_s)
                results.append(agg)
                fh.write(dumps(agg).decode() + "\n")
                fh.flush()
            if done:
                for st in (vstage, astage):
                    if st is not None:
                        st.reset_window()

        for ts, kind, item in heapq.merge(*events, key=lambda e: (e[0], e[1])):
            emit(windower.close_before(ts))
            if kind == 0:
                assert vstage is not None  # noqa: S101
                if item.image is None:  # type: ignore[attr-defined]
                    windower.add_flag(ts, "no_camera")
                else:
                    windower.add_frame(vstage.process(ts, item.image))  # type: ignore[attr-defined]
            else:
                assert astage is not None  # noqa: S101
                for f in item.flags:  # type: ignore[attr-defined]
                    windower.add_flag(ts, f)
                if item.samples is None:  # type: ignore[attr-defined]
                    windower.add_flag(ts, "no_mic")
                else:
                    windower.add_chunk(astage.process(ts, item.samples, item.sample_rate))  # type: ignore[attr-defined]
        emit(windower.close_all())
    for st in (vstage, astage):
        if st is not None:
            st.close()
    return results


def summary_line(aggs: list[Aggregate], out: Path) -> str:
    return json.dumps({"windows": len(aggs), "out": str(out)})
