"""Audio calibration of a room: noise floor and teacher reference level, kept only as two numbers.

Record ~10 s of the empty room (fans/projector on) and ~10 s of the teacher
talking from where they usually stand; the result is the ``audio`` section of
calibration/<room>.yaml. No audio is stored — the samples are reduced to dB
statistics and dropped.

    python -m edge_agent.audio.calibrate --room mic:default --teacher mic:default --seconds 10
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import yaml

from calibration.profile import merge_section
from edge_agent.audio.vad import SR, Vad, frame_db


def noise_floor_dbfs(room: np.ndarray) -> float:
    """10th percentile of 10 ms frame levels of an empty room (the same statistic the VAD tracks)."""
    db = frame_db(room - room.mean())
    if db.size == 0:
        raise ValueError("room recording is empty")
    return round(float(np.percentile(db, 10)), 1)


def teacher_level_dbfs(teacher: np.ndarray) -> float:
    """Median level of the voiced frames of a teacher recording."""
    x = teacher - teacher.mean()
    speech, db = Vad(gate_db=0.0, stay_gate_db=0.0, noise_floor_dbfs=-200.0)(x)
    if speech.sum() < 100:
        raise ValueError("less than 1 s of speech in the teacher recording")
    return round(float(np.median(db[speech])), 1)


def audio_calibration_section(room: np.ndarray, teacher: np.ndarray | None = None, margin_db: float = 3.0) -> dict:
    out: dict = {"noise_floor_dbfs": noise_floor_dbfs(room)}
    if teacher is not None:
        out["teacher"] = {"level_dbfs": teacher_level_dbfs(teacher), "margin_db": margin_db}
    return {"audio": out}


def record(spec: str, seconds: float) -> np.ndarray:
    """``seconds`` of audio from a file or ``mic:<device>`` (kept in memory only)."""
    from edge_agent.sources.audio import open_audio_source

    src = open_audio_source(spec, SR, 0.5)
    got: list[np.ndarray] = []
    t0 = time.monotonic()
    try:
        for c in src.chunks():
            if c.samples is not None:
                got.append(c.samples)
            if sum(len(g) for g in got) >= seconds * SR or time.monotonic() - t0 > seconds + 10:
                break
    finally:
        src.close()
    if not got:
        raise OSError(f"no audio from {spec}")
    return np.concatenate(got)[: int(seconds * SR)]


def main(args: argparse.Namespace) -> int:
    """CLI: ``edge-agent calibrate-audio --room SPEC [--teacher SPEC] [--seconds S] [--out FILE]``."""
    try:
        room = record(args.room, args.seconds)
        teacher = record(args.teacher, args.seconds) if args.teacher else None
        section = audio_calibration_section(room, teacher)
    except (OSError, ValueError) as e:
        print(f"audio calibration failed: {e}", file=sys.stderr)
        return 2
    if args.out:  # replace the profile's audio section, keep its camera section
        try:
            merge_section(args.out, "audio", section["audio"])
        except ValueError as e:
            print(f"audio calibration not saved: {e}", file=sys.stderr)
            return 2
    print(yaml.safe_dump(section, sort_keys=False), end="")
    return 0


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--room", required=True, help="empty-room source: mic:<device> or an audio file")
    ap.add_argument("--teacher", help="teacher-talking source: mic:<device> or an audio file")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--out", help="write the audio section into this room profile (YAML)")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(p)
    raise SystemExit(main(p.parse_args()))
