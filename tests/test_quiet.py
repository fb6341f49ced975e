"""Quiet by default: native chatter (ALSA/JACK, OpenCV, TFLite, absl) never reaches the output; real lines do."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from edge_agent.quiet import filter_lines, is_noise

BIN = Path(sys.executable).parent
CHATTER = [
    "ALSA lib pcm.c:2666:(snd_pcm_open_noupdate) Unknown PCM cards.pcm.rear",
    "ALSA lib confmisc.c:855:(parse_card) cannot find card '0'",
    "jack server is not running or cannot be started",
    "JackShmReadWritePtr::~JackShmReadWritePtr - Init not done for -1, skipping unlock",
    "Cannot connect to server socket err = No such file or directory",
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "W0000 00:00:1796287734.133507   18721 inference_feedback_manager.cc:114] Feedback manager requires a model "
    "with a single signature inference. Disabling support for feedback tensors.",
    "I0000 00:00:1796287734.993226   18719 gl_context.cc:357] GL version: 2.1",
    "[ WARN:0@0.044] global cap_v4l.cpp:913 open VIDEOIO(V4L2:/dev/video0): can't open camera by index",
    "[ERROR:0@0.045] global obsensor_uvc_stream_channel.cpp:158 getStreamChannelGroup Camera index out of range",
]
KEPT = [
    "2026-12-03 08:37:45,666 WARNING edge_agent.sources.audio: microphone default unavailable",
    "Traceback (most recent call last):",
    "E0000 00:00:1796287734.133507   18721 calculator_graph.cc:100] a real native error",
    "F0000 00:00:1796287734.133507   18721 check.cc:1] Check failed: the reason of a crash",
    "ok    camera      camera:0: 1920x1080",
]


def test_chatter_is_dropped_and_every_other_line_kept():
    assert all(is_noise(x) for x in CHATTER)
    assert not any(is_noise(x) for x in KEPT)
    buf = "\n".join(CHATTER + KEPT).encode() + b"\nunfinished"
    out, rest = filter_lines(buf)
    assert out.decode().splitlines() == KEPT and rest == b"unfinished"


def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)


def test_native_writes_are_filtered_and_a_crash_message_survives_abort():
    code = ("import os, sys; from edge_agent.quiet import quiet_native; quiet_native(verbose='-v' in sys.argv)\n"
            "for line in sys.argv[1].split('|'): os.write(2, line.encode() + b'\\n')\n"
            "os.abort()  # a native crash: the filter process still forwards what was written before it")
    lines = "|".join(CHATTER[:3] + KEPT[3:4])
    r = _python(code, lines)
    assert r.returncode != 0 and r.stderr.splitlines() == KEPT[3:4], r.stderr
    r = _python(code, lines, "-v")
    assert r.stderr.splitlines() == CHATTER[:3] + KEPT[3:4]  # -v: everything, untouched


def test_opencv_and_portaudio_start_up_quietly():
    code = ("from edge_agent.quiet import quiet_native; quiet_native(verbose=False)\n"
            "import cv2; cap = cv2.VideoCapture(97); ok = cap.isOpened(); cap.release()\n"
            "import pyaudio; pa = pyaudio.PyAudio(); n = pa.get_device_count(); pa.terminate()\n"
            "print('opened', ok, 'devices', n)")
    r = _python(code)
    assert r.returncode == 0 and r.stdout.startswith("opened False devices"), r.stderr[-2000:]
    assert r.stderr == "", r.stderr[:2000]


def test_check_prints_only_verdict_lines_and_json(tmp_path):
    """Camera and microphone as configured by default; on a box without them their FAIL lines are the answer."""
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(f"outbox: {{path: {tmp_path / 'outbox.db'}}}\nmqtt: {{port: 9}}\n")
    r = subprocess.run([str(BIN / "edge-agent"), "check", "--config", str(cfg)], capture_output=True, text=True,
                       timeout=300)
    assert r.stderr == "", r.stderr[:3000]
    *verdicts, last = r.stdout.splitlines()
    assert all(v[:6] in ("ok    ", "FAIL  ") for v in verdicts), r.stdout
    assert [v.split()[1] for v in verdicts][:3] == ["config", "calibration", "camera"]
    res = json.loads(last)
    assert "broker" in res["failed"] and r.returncode == 1  # port 9: nothing listens, said in words
