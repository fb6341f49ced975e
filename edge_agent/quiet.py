"""Keep native libraries' chatter (ALSA, JACK, OpenCV, TFLite, MediaPipe/absl) out of the agent's output.

Those libraries write to file descriptor 2 from C, below Python's logging: PortAudio's device scan
alone prints ~250 ALSA/JACK lines on a box without a sound card, burying ``edge-agent check``'s
verdicts and the journal. Unless ``-v`` is given, :func:`quiet_native` (1) sets the libraries' own
log-level variables before they are imported and (2) passes fd 2 through a filter process that
drops the known chatter and forwards every other line unchanged. The filter is a forked process,
not a thread, so a native crash message written just before an abort still reaches the journal.
"""

from __future__ import annotations

import atexit
import os
import re
import signal
import sys
import time

#: Read before the libraries load (so set before ``cv2``/``mediapipe``/``pyaudio`` are imported).
NATIVE_LOG_ENV = {
    "OPENCV_LOG_LEVEL": "OFF",  # a missing camera is reported by the agent itself, in words
    "GLOG_minloglevel": "2",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "JACK_NO_START_SERVER": "1",  # PortAudio's JACK probe must not try to start a JACK server
    "JACK_NO_AUDIO_RESERVATION": "1",
}
#: Lines of native chatter: informational or warning lines that need no action by whoever reads the log.
NOISE = re.compile(
    r"^(ALSA lib |Jack|jack server is not running|Cannot connect to server|"
    r"[IW]\d{4} [\d:.]+\s+\d+ \S+:\d+\] |"  # absl/glog info and warnings (MediaPipe, TFLite)
    r"WARNING: All log messages before absl::InitializeLog|"
    r"INFO: Created TensorFlow Lite|INFO: Initialized TensorFlow Lite|"
    r"\[ ?(WARN|INFO|ERROR|DEBUG):\d+@)"  # OpenCV's own log format, if OPENCV_LOG_LEVEL was overridden
)
_MAX_PARTIAL = 8192
_child: int | None = None


def is_noise(line: str) -> bool:
    """True for a line of native-library chatter that :func:`quiet_native` drops."""
    return bool(NOISE.match(line))


def filter_lines(buf: bytes) -> tuple[bytes, bytes]:
    """Split ``buf`` into (what to forward, the unfinished last line kept for the next read)."""
    *lines, rest = buf.split(b"\n")
    if len(rest) > _MAX_PARTIAL:  # a very long line without end: forward it rather than hold it
        lines.append(rest)
        rest = b""
    out = b"".join(ln + b"\n" for ln in lines if not is_noise(ln.decode("utf-8", "replace")))
    return out, rest


def _pump(src: int, dst: int) -> None:
    rest = b""
    while True:
        try:
            chunk = os.read(src, 65536)
        except InterruptedError:
            continue
        if not chunk:
            break
        out, rest = filter_lines(rest + chunk)
        if out:
            os.write(dst, out)
    if rest and not is_noise(rest.decode("utf-8", "replace")):
        os.write(dst, rest)


def quiet_native(verbose: bool) -> None:
    """Silence native chatter for the rest of this process (nothing is changed when ``verbose``)."""
    global _child
    if verbose or _child is not None:
        return
    for k, v in NATIVE_LOG_ENV.items():
        os.environ.setdefault(k, v)
    sys.stderr.flush()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the filter: reads until every writer of the pipe has exited
        try:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)  # Ctrl-C or systemd stop the agent; the filter drains it
            os.close(w)
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)
            _pump(r, 2)
        finally:
            os._exit(0)
    os.close(r)
    saved = os.dup(2)
    os.dup2(w, 2)
    os.close(w)
    _child = pid
    atexit.register(_drain, saved)


def _drain(saved: int) -> None:
    """At exit: hand fd 2 back so the filter sees the end, and wait briefly until it has written everything."""
    global _child
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os.dup2(saved, 2)
    deadline = time.monotonic() + 5
    while _child is not None and time.monotonic() < deadline:
        done, _ = os.waitpid(_child, os.WNOHANG)
        if done:
            _child = None
        else:
            time.sleep(0.01)
