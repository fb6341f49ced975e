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
    flags: frozenset[str] = frozenset()  # contract quality flags the source saw, e.g. audio_overflow


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """float32 mono resampled with soxr (high quality, streaming-safe for whole chunks)."""
    if sr_in == sr_out:
        return x
    import soxr

    return soxr.resample(x, sr_in, sr_out).astype(np.float32)


def read_audio_file(path: str, sample_rate: int) -> tuple[np.ndarray, int]:
    """Decode any soundfile-readable file (WAV/FLAC/OGG) to float32 mono at ``sample_rate``; also its own rate."""
    import soundfile as sf

    data, sr = sf.read(path, dtype="float32", always_2d=True)
    return resample(data.mean(axis=1), int(sr), sample_rate), int(sr)


def load_audio_file(path: str, sample_rate: int) -> np.ndarray:
    return read_audio_file(path, sample_rate)[0]


class AudioFileSource:
    """A WAV/FLAC/OGG file read block by block (a 45-minute lesson never sits in memory whole).

    Another sample rate is resampled with a streaming soxr resampler and reported
    as ``resampled``/``native_rate`` for health; the analysis always runs at ``sample_rate``.
    """

    is_live = False

    def __init__(self, path: str, sample_rate: int, chunk_s: float, loop: bool = False):
        import soundfile as sf

        self.loop = loop  # start over at the end; the stream (and its time) continues across the seam
        self.path = path
        self.sample_rate = sample_rate
        self.chunk_s = chunk_s
        info = sf.info(path)  # raises on a missing/undecodable file, before any thread starts
        self.native_rate = int(info.samplerate)
        self._frames = int(info.frames)
        self.resampled = self.native_rate != sample_rate
        self.overflows = 0
        self._closed = False

    @property
    def duration_s(self) -> float:
        return self._frames / self.native_rate

    def chunks(self) -> Iterator[AudioChunk]:
        import soundfile as sf

        n = max(1, int(round(self.chunk_s * self.sample_rate)))
        block = max(1, int(round(self.chunk_s * self.native_rate)))
        rs = None
        if self.resampled:
            import soxr

            rs = soxr.ResampleStream(self.native_rate, self.sample_rate, 1, dtype="float32")
        pending = np.zeros(0, np.float32)
        pos = 0
        while not self._closed:
            with sf.SoundFile(self.path) as f:
                while not self._closed:
                    data = f.read(block, dtype="float32", always_2d=True)
                    end = len(data) < block
                    last = end and not self.loop  # a looping stream never flushes: the next pass continues it
                    x = data.mean(axis=1).astype(np.float32)
                    if rs is not None:
                        x = rs.resample_chunk(x, last=last)
                    pending = np.concatenate([pending, x])
                    while len(pending) >= n or (last and len(pending)):
                        yield AudioChunk(pos / self.sample_rate, pending[:n], self.sample_rate)
                        pos += min(n, len(pending))
                        pending = pending[n:]
                    if end:
                        break
            if not self.loop or self._frames == 0:
                break

    def close(self) -> None:
        self._closed = True


class PyAudioBackend:
    """The real microphone: PyAudio/PortAudio. Kept behind a tiny interface so device loss can be tested."""

    def __init__(self) -> None:
        import pyaudio

        self._pa = pyaudio.PyAudio()
        self._cont = pyaudio.paContinue
        self._int16 = pyaudio.paInt16

    def device_index(self, device: str) -> int | None:
        if device in ("", "default"):
            return None
        if device.isdigit():
            return int(device)
        for i in range(self._pa.get_device_count()):
            info = self._pa.get_device_info_by_index(i)
            if device.lower() in str(info.get("name", "")).lower() and info.get("maxInputChannels", 0) > 0:
                return i
        raise OSError(f"no input device matching {device!r}")

    def default_rate(self, index: int | None) -> int:
        info = self._pa.get_default_input_device_info() if index is None else self._pa.get_device_info_by_index(index)
        return int(info.get("defaultSampleRate", 48000))

    def open(self, index: int | None, rate: int, frames: int, callback):  # noqa: ANN001, ANN201
        def cb(in_data, frame_count, time_info, status):  # noqa: ANN001
            callback(np.frombuffer(in_data, dtype=np.int16).astype(np.float32) / 32768.0, bool(status))
            return (None, self._cont)

        return self._pa.open(format=self._int16, channels=1, rate=rate, input=True, input_device_index=index,
                             frames_per_buffer=frames, stream_callback=cb)

    def terminate(self) -> None:
        self._pa.terminate()


class MicSource:
    """Microphone whose callback fills a bounded ring of chunks; survives the device going away.

    * device: ``default``, an index or part of a name (config ``audio.source: mic:<...>``).
    * If the device refuses ``sample_rate`` it is opened at its own default rate and
      each chunk is resampled (``resampled`` is set for health).
    * A full ring drops the oldest chunk and counts an overflow; PortAudio input
      overflows are counted too; the next chunk carries ``audio_overflow``.
    * A stream that stops delivering is closed and reopened with backoff; meanwhile
      chunks with ``samples=None`` tell the pipeline the mic is gone (``no_mic``).
    """

    is_live = True

    def __init__(self, device: str, sample_rate: int, chunk_s: float, max_chunks: int = 64,
                 backend_factory=None, retry_s: float = 1.0, stall_s: float | None = None):  # noqa: ANN001
        self.device = device
        self.sample_rate = sample_rate
        self.chunk_s = chunk_s
        self._ring: deque[tuple[float, np.ndarray]] = deque(maxlen=max_chunks)
        self._cond = threading.Condition()
        self.overflows = 0
        self._reported_overflows = 0
        self.reopens = 0
        self.resampled = False
        self.native_rate = sample_rate
        self._backend_factory = backend_factory or PyAudioBackend
        self._backend = None
        self._stream = None
        self._stop = False
        self._retry_s = retry_s
        self._stall_s = stall_s if stall_s is not None else max(2.0, 4 * chunk_s)

    def _on_audio(self, x: np.ndarray, overflowed: bool) -> None:
        with self._cond:
            if overflowed:
                self.overflows += 1
            if len(self._ring) == self._ring.maxlen:
                self.overflows += 1
            self._ring.append((time.time() - len(x) / self.native_rate, x))
            self._cond.notify()

    def _open(self) -> bool:
        try:
            self._backend = self._backend_factory()
            index = self._backend.device_index(self.device)
            try:
                rate = self.sample_rate
                self._stream = self._backend.open(index, rate, int(rate * self.chunk_s), self._on_audio)
            except Exception:  # noqa: BLE001 - e.g. "invalid sample rate": retry at the device's own rate
                rate = self._backend.default_rate(index)
                if rate == self.sample_rate:
                    raise
                self._stream = self._backend.open(index, rate, int(rate * self.chunk_s), self._on_audio)
            self.native_rate = rate
            self.resampled = rate != self.sample_rate
            if self.resampled:
                log.warning("microphone %s runs at %d Hz; resampling to %d", self.device, rate, self.sample_rate)
            return True
        except Exception as e:  # noqa: BLE001 - any device error means "no mic" until it comes back
            log.warning("microphone %s unavailable: %s", self.device, e)
            self._close_stream()
            return False

    def _close_stream(self) -> None:
        try:
            if self._stream is not None:
                self._stream.close()
        except Exception:  # noqa: BLE001, S110 - the device may already be gone
            pass
        try:
            if self._backend is not None:
                self._backend.terminate()
        except Exception:  # noqa: BLE001, S110
            pass
        self._stream = self._backend = None
        with self._cond:
            self._ring.clear()

    def chunks(self) -> Iterator[AudioChunk]:
        backoff = self._retry_s
        opened_once = False
        while not self._stop:
            if self._stream is None:
                if not self._open():
                    yield AudioChunk(time.time(), None, self.sample_rate)
                    self._sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
                    continue
                self.reopens += int(opened_once)
                opened_once = True
            backoff = self._retry_s
            with self._cond:
                if not self._ring:
                    self._cond.wait(timeout=self._stall_s)
                item = self._ring.popleft() if self._ring else None
            if item is None:
                if self._stop:
                    break
                stream_dead = True
                try:
                    stream_dead = self._stream is None or not self._stream.is_active()
                except Exception:  # noqa: BLE001, S110 - a vanished device can raise here
                    pass
                # silence from a live stream for stall_s is also treated as a lost device
                log.warning("microphone %s stopped delivering (active=%s); reopening", self.device, not stream_dead)
                self._close_stream()
                yield AudioChunk(time.time(), None, self.sample_rate)
                continue
            flags = frozenset()
            if self.overflows > self._reported_overflows:
                self._reported_overflows = self.overflows
                flags = frozenset({"audio_overflow"})
            yield AudioChunk(item[0], resample(item[1], self.native_rate, self.sample_rate), self.sample_rate, flags)

    def _sleep(self, s: float) -> None:
        with self._cond:
            self._cond.wait(timeout=s)

    def close(self) -> None:
        self._stop = True
        with self._cond:
            self._cond.notify_all()
        self._close_stream()


def open_audio_source(spec: str, sample_rate: int = 16000, chunk_s: float = 0.5,
                      loop: bool = False) -> AudioFileSource | MicSource:
    """``mic:default`` / ``mic:<index|name>`` → microphone; anything else is a file path."""
    if spec.startswith("mic:"):
        return MicSource(spec.split(":", 1)[1] or "default", sample_rate, chunk_s)
    return AudioFileSource(spec, sample_rate, chunk_s, loop)
