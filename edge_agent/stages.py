"""The seams of the edge pipeline (Frigate style: source → stages → window → sink).

A vision stage turns one frame into a FrameObservation; an audio stage turns one
chunk of samples into an AudioObservation. Stages keep no pixels or samples after
``process`` returns; anything they remember (e.g. ephemeral tracks) is cleared by
``reset_window``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from edge_agent.observations import AudioObservation, FrameObservation


@runtime_checkable
class VisionStage(Protocol):
    def process(self, ts: float, image_bgr: np.ndarray) -> FrameObservation: ...

    def reset_window(self) -> None: ...

    def model_versions(self) -> dict[str, str]: ...

    def close(self) -> None: ...


@runtime_checkable
class AudioStage(Protocol):
    def process(self, ts: float, samples: np.ndarray, sample_rate: int) -> AudioObservation:
        """``samples``: float32 mono in [-1, 1]. The stage must not keep a reference to them."""
        ...

    def reset_window(self) -> None: ...

    def model_versions(self) -> dict[str, str]: ...

    def close(self) -> None: ...
