"""Build the analysis stages a config asks for (one place, used by run, replay and check)."""

from __future__ import annotations

import logging

from calibration.profile import RoomCalibration, load_profile
from edge_agent.config import AgentConfig
from edge_agent.stages import AudioStage, VisionStage

log = logging.getLogger(__name__)


def load_calibration(cfg: AgentConfig) -> RoomCalibration | None:
    """The room profile the config names, validated (a bad profile stops start-up with its key path);
    a profile measured through another detector's pose path is logged, not refused (attention is off)."""
    if cfg.calibration is None:
        return None
    from edge_agent.config_check import detector_note

    profile = load_profile(cfg.calibration)
    note = detector_note(profile.camera, cfg.vision.face_detector, cfg.calibration)
    if note:
        log.warning("%s", note)
    return profile


def make_vision_stage(cfg: AgentConfig, calibration: RoomCalibration | None, live: bool = False) -> VisionStage:
    """``live``: frames arrive in real time and are dropped when the stage is slow, so its degradation ladder
    may shed optional work (``vision.degrade``); offline (replay, check) every frame gets full work."""
    from edge_agent.vision.stage import VisionPipelineStage

    return VisionPipelineStage(cfg, calibration, live=live)


def make_audio_stage(cfg: AgentConfig, calibration: RoomCalibration | None) -> AudioStage:
    from edge_agent.audio.stage import AudioPipelineStage

    return AudioPipelineStage(cfg, calibration)
