"""Audio sources: a microphone (PyAudio, callback into a bounded ring buffer) or a file.

Samples are float32 mono at the configured rate and live only in memory; a chunk
is handed to the audio stage and dropped. Overflow is counted, not fatal.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)


@dataclass
class AudioChunk:
    ts: float  # media seconds from the start (file) or seconds since the epoch (mic)
    samples: np.ndarray | None  # float32 mono in [-1, 1]; None when the device gave nothing
    sample_rate: int


def load_audio_file(path: str, sample_rate: int) -> np.ndarray:
    """Decode any soundfile-readable file (WAV/FLAC/OGG) to float32 mono at ``sample_rate``."""
    import soundfile as sf

    data, sr = sf.read(path, dtype="float32", always_2d=True)
    mono = data.mean(axis=1)
    if sr != sample_rate:
        import soxr

        mono = soxr.resample(mono, sr, sample_rate).astype(np.float32)
    return mono


class AudioFileSource:
    is_live = False

    def __init__(self, path: str, sample_rate: int, chunk_s: float):
        self.path = path
        self.sample_rate = sample_rate
        self.chunk_s = chunk_s
        self._samples = load_audio_file(path, sample_rate)

    @property
    def duration_s(self) -> float:
        return len(self._samples) / self.sample_rate

    def chunks(self) -> Iterator[AudioChunk]:
        n = max(1, int(round(self.chunk_s * self.sample_rate)))
        for i in range(0, len(self._samples), n):
            yield AudioChunk(i / self.sample_rate, self._samples[i:i + n], self.sample_rate)

    def close(self) -> None:
        self._samples = np.zeros(0, np.float32)


class MicSource:
    """PyAudio input stream whose callback fills a bounded ring of chunks."""

    is_live = True

    def __init__(self, device: str, sample_rate: int, chunk_s: float, max_chunks: int = 64):
        self.device = device
        self.sample_rate = sample_rate
        self.chunk_s = chunk_s
        self._ring: deque[tuple[float, np.ndarray]] = deque(maxlen=max_chunks)
        self._cond = threading.Condition()
        self.overflows = 0
        self._pa = None
        self._stream = None
        self._stop = False

    def _device_index(self, pa) -> int | None:  # noqa: ANN001 - pyaudio.PyAudio
        if self.device in ("", "default"):
            return None
        if self.device.isdigit():
            return int(self.device)
        for i in range(pa.get_device_count()):
            info = pa.get_device_info_by_index(i)
            if self.device.lower() in str(info.get("name", "")).lower() and info.get("maxInputChannels", 0) > 0:
                return i
        raise OSError(f"no input device matching {self.device!r}")

    def _open(self) -> bool:
        try:
            import pyaudio

            self._pa = pyaudio.PyAudio()
            frames = int(self.sample_rate * self.chunk_s)

            def cb(in_data, frame_count, time_info, status):  # noqa: ANN001
                if status:
                    self.overflows += 1
                x = np.frombuffer(in_data, dtype=np.int16).astype(np.float32) / 32768.0
                with self._cond:
                    if len(self._ring) == self._ring.maxlen:
                        self.overflows += 1
                    self._ring.append((time.time() - len(x) / self.sample_rate, x))
                    self._cond.notify()
                return (None, pyaudio.paContinue)

            self._stream = self._pa.open(
                format=pyaudio.paInt16, channels=1, rate=self.sample_rate, input=True,
                input_device_index=self._device_index(self._pa), frames_per_buffer=frames,
                stream_callback=cb,
            )
            return True
        except Exception as e:  # noqa: BLE001 - any device error means "no mic" for now
            log.warning("microphone %s unavailable: %s", self.device, e)
            self._close_stream()
            return False

    def _close_stream(self) -> None:
        try:
            if self._stream is not None:
                self._stream.close()
        except Exception:  # noqa: BLE001, S110
            pass
        if self._pa is not None:
            self._pa.terminate()
        self._stream = self._pa = None

    def chunks(self) -> Iterator[AudioChunk]:
        backoff = 1.0
        while not self._stop:
            if self._stream is None and not self._open():
                yield AudioChunk(time.time(), None, self.sample_rate)
                time.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 1.0
            with self._cond:
                if not self._ring:
                    self._cond.wait(timeout=max(2.0, 4 * self.chunk_s))
                item = self._ring.popleft() if self._ring else None
            if item is None:
                if self._stream is not None and not self._stream.is_active():
                    self._close_stream()
                yield AudioChunk(time.time(), None, self.sample_rate)
                continue
            yield AudioChunk(item[0], item[1], self.sample_rate)

    def close(self) -> None:
        self._stop = True
        with self._cond:
            self._cond.notify_all()
        self._close_stream()


def open_audio_source(spec: str, sample_rate: int = 16000, chunk_s: float = 0.5) -> AudioFileSource | MicSource:
    """``mic:default`` / ``mic:<index|name>`` → microphone; anything else is a file path."""
    if spec.startswith("mic:"):
        return MicSource(spec.split(":", 1)[1] or "default", sample_rate, chunk_s)
    return AudioFileSource(spec, sample_rate, chunk_s)
