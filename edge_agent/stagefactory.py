"""Build the analysis stages a config asks for (one place, used by run, replay and check)."""

from __future__ import annotations

from pathlib import Path

import yaml

from edge_agent.config import AgentConfig
from edge_agent.stages import AudioStage, VisionStage


def load_calibration(cfg: AgentConfig) -> dict | None:
    if cfg.calibration is None:
        return None
    data = yaml.safe_load(Path(cfg.calibration).read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else None


def make_vision_stage(cfg: AgentConfig, calibration: dict | None) -> VisionStage:
    from edge_agent.vision.stage import FaceCountStage

    return FaceCountStage(cfg, calibration)


def make_audio_stage(cfg: AgentConfig, calibration: dict | None) -> AudioStage:
    from edge_agent.audio.stage import AudioPipelineStage

    return AudioPipelineStage(cfg, calibration)
