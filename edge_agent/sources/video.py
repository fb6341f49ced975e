"""Video sources: a live camera (OpenCV) or a recorded file, sampled at a target rate.

Frames stay in memory only. A live camera that stops answering yields ``None``
frames (so the window can say ``no_camera``) and is reopened with backoff; it
never raises into the pipeline.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

log = logging.getLogger(__name__)


@dataclass
class VideoFrame:
    ts: float  # media seconds from the start (file) or seconds since the epoch (camera)
    image: np.ndarray | None  # BGR, or None when the camera gave nothing


class VideoFileSource:
    """Decode a file and yield frames at ``target_fps`` of media time (dropping the rest).

    With ``loop`` the file starts over at its end and media time keeps counting (a recording replayed as a
    live room: timestamps stay monotonic, so windows continue instead of the run ending).
    """

    is_live = False

    def __init__(self, path: str, target_fps: float, loop: bool = False):
        self.path = path
        self.target_fps = target_fps
        self.loop = loop
        cap = cv2.VideoCapture(path)
        if not cap.isOpened():
            raise OSError(f"cannot open video file {path!r}")
        self._fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        self._n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        cap.release()

    @property
    def duration_s(self) -> float:
        return self._n / self._fps if self._n else 0.0

    def frames(self) -> Iterator[VideoFrame]:
        step = 1.0 / self.target_fps
        next_t = 0.0
        offset = 0.0  # media seconds of the passes already played
        while True:
            played = 0
            for t, img in self._one_pass(step, next_t - offset):
                played += 1
                next_t = offset + t + step
                yield VideoFrame(offset + t, img)
            if not self.loop or played == 0:
                return
            offset += self.duration_s or next_t - offset

    def _one_pass(self, step: float, first_t: float) -> Iterator[tuple[float, np.ndarray]]:
        cap = cv2.VideoCapture(self.path)
        next_t = max(0.0, first_t)
        idx = 0
        try:
            while True:
                if not cap.grab():
                    return
                t = idx / self._fps
                idx += 1
                if t + 1e-9 < next_t:
                    continue
                ok, img = cap.retrieve()
                if not ok:
                    return
                next_t += step
                yield t, img
        finally:
            cap.release()

    def close(self) -> None:
        pass


class CameraSource:
    """Latest-frame reader for a camera: grabs continuously, hands out one frame per tick."""

    is_live = True

    def __init__(self, spec: str, width: int, height: int, target_fps: float,
                 reopen_min_s: float = 1.0, reopen_max_s: float = 30.0):
        self.spec = spec
        self.width, self.height = width, height
        self.target_fps = target_fps
        self._cap: cv2.VideoCapture | None = None
        self._backoff = reopen_min_s
        self._reopen_min_s, self._reopen_max_s = reopen_min_s, reopen_max_s
        self._next_open = 0.0
        self._stop = False

    def _open(self) -> bool:
        target: int | str = int(self.spec) if self.spec.isdigit() else self.spec
        cap = cv2.VideoCapture(target)
        if not cap.isOpened():
            cap.release()
            return False
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self._cap = cap
        self._backoff = self._reopen_min_s
        log.info("camera %s opened", self.spec)
        return True

    def read(self) -> VideoFrame:
        now = time.time()
        if self._cap is None:
            if now < self._next_open or not self._open():
                if now >= self._next_open:
                    self._next_open = now + self._backoff
                    self._backoff = min(self._backoff * 2, self._reopen_max_s)
                return VideoFrame(now, None)
        assert self._cap is not None  # noqa: S101
        ok, img = self._cap.read()
        if not ok or img is None or img.size == 0:
            log.warning("camera %s returned no frame; will reopen", self.spec)
            self._cap.release()
            self._cap = None
            self._next_open = now + self._backoff
            return VideoFrame(now, None)
        return VideoFrame(now, img)

    def frames(self) -> Iterator[VideoFrame]:
        period = 1.0 / self.target_fps
        while not self._stop:
            t0 = time.monotonic()
            yield self.read()
            time.sleep(max(0.0, period - (time.monotonic() - t0)))

    def close(self) -> None:
        self._stop = True
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def open_video_source(spec: str, width: int = 1920, height: int = 1080,
                      target_fps: float = 1.0, loop: bool = False) -> VideoFileSource | CameraSource:
    """``camera:<index>`` or ``/dev/videoN`` → camera; anything else is a file path."""
    if spec.startswith("camera:"):
        return CameraSource(spec.split(":", 1)[1] or "0", width, height, target_fps)
    if spec.startswith("/dev/video"):
        return CameraSource(spec, width, height, target_fps)
    return VideoFileSource(spec, target_fps, loop)
