"""Build the analysis stages a config asks for (one place, used by run, replay and check)."""

from __future__ import annotations

from calibration.profile import RoomCalibration, load_profile
from edge_agent.config import AgentConfig
from edge_agent.stages import AudioStage, VisionStage


def load_calibration(cfg: AgentConfig) -> RoomCalibration | None:
    """The room profile the config names, validated (a bad profile stops start-up with its key path)."""
    return None if cfg.calibration is None else load_profile(cfg.calibration)


def make_vision_stage(cfg: AgentConfig, calibration: RoomCalibration | None, live: bool = False) -> VisionStage:
    """``live``: frames arrive in real time and are dropped when the stage is slow, so its degradation ladder
    may shed optional work (``vision.degrade``); offline (replay, check) every frame gets full work."""
    from edge_agent.vision.stage import VisionPipelineStage

    return VisionPipelineStage(cfg, calibration, live=live)


def make_audio_stage(cfg: AgentConfig, calibration: RoomCalibration | None) -> AudioStage:
    from edge_agent.audio.stage import AudioPipelineStage

    return AudioPipelineStage(cfg, calibration)
