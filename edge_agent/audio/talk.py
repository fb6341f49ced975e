"""Talk-time analysis on 10 ms masks: turns, longest silence, teacher attribution (pure functions)."""

from __future__ import annotations

import numpy as np


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) ranges where ``mask`` is True (window.py may import this; it must not import window)."""
    edges = np.diff(np.concatenate(([0], np.asarray(mask, dtype=np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def drop_short(mask: np.ndarray, min_frames: int) -> np.ndarray:
    """Remove speech runs shorter than ``min_frames`` that lie fully inside the array (clicks, door bangs)."""
    out = mask.copy()
    for s, e in runs(mask):
        if e - s < min_frames and s > 0 and e < len(mask):
            out[s:e] = False
    return out


def merge_gaps(mask: np.ndarray, max_gap: int) -> np.ndarray:
    """Fill silences shorter than ``max_gap`` frames between two speech runs (breaths, plosives)."""
    out = mask.copy()
    rs = runs(mask)
    for (_, e0), (s1, _) in zip(rs, rs[1:], strict=False):
        if s1 - e0 < max_gap:
            out[e0:s1] = True
    return out


def count_turns(speech: np.ndarray, frame_s: float, teacher: np.ndarray | None = None,
                merge_gap_s: float = 0.3, min_turn_s: float = 0.3) -> int:
    """Speech turns: runs after merging gaps < ``merge_gap_s``, at least ``min_turn_s`` long.

    Why merge: one sentence has many sub-300 ms pauses that are not turn changes.
    With a teacher mask, a switch between teacher and student inside one run also
    starts a new turn (a reply that follows without a pause).
    """
    merged = merge_gaps(speech.astype(bool), max(1, int(round(merge_gap_s / frame_s))))
    min_len = max(1, int(round(min_turn_s / frame_s)))
    turns = 0
    for s, e in runs(merged):
        if e - s < min_len:
            continue
        turns += 1
        if teacher is not None:
            t = teacher[s:e][speech[s:e]]
            # speaker switches that last at least min_turn_s count as new turns
            parts = sum(1 for a, b in runs(t) + runs(~t) if b - a >= min_len)
            turns += max(0, parts - 1)
    return turns


def longest_silence_s(speech: np.ndarray, frame_s: float) -> float:
    return max((e - s for s, e in runs(~speech.astype(bool))), default=0) * frame_s


def talk_summary(speech: np.ndarray, frame_s: float, teacher: np.ndarray | None = None,
                 overlap: np.ndarray | None = None) -> dict[str, float | int | None]:
    """Window-level numbers in the names window.audio_summary uses."""
    speech = speech.astype(bool)
    if speech.size == 0:
        return {"speech_share": None, "speech_turns": 0, "longest_silence_s": None,
                "overlap_share": None, "teacher_talk_share": None}
    n = int(speech.sum())
    return {
        "speech_share": round(float(speech.mean()), 4),
        "speech_turns": count_turns(speech, frame_s, teacher),
        "longest_silence_s": round(longest_silence_s(speech, frame_s), 2),
        "overlap_share": round(float((overlap & speech).sum() / n), 4) if overlap is not None and n else None,
        "teacher_talk_share": round(float((teacher & speech).sum() / n), 4) if teacher is not None and n else None,
    }


def teacher_by_level(speech: np.ndarray, db: np.ndarray, level_dbfs: float, margin_db: float = 6.0,
                     min_frames: int = 20) -> np.ndarray:
    """Teacher where a speech run's median level is within ``margin_db`` of the calibrated teacher level.

    Works because the teacher is usually nearest the microphone (calibration
    measures how loud the teacher arrives); a student next to the microphone is
    mis-attributed — see docs/audio.md.
    """
    out = np.zeros(len(speech), bool)
    for s, e in runs(merge_gaps(speech, 30)):
        seg = db[s:e][speech[s:e]]
        if e - s >= min_frames and seg.size and np.median(seg) >= level_dbfs - margin_db:
            out[s:e] = speech[s:e]
    return out
