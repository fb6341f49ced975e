"""Turn one window of observations into a wire-contract aggregate (pure functions).

This is where privacy rules are applied on the device: k-anonymity for the
expression mix and for seat zones, and the policy mode. The contract validator
checks the same rules again on both sides.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from statistics import median

import numpy as np

from classpulse_contract import EXPRESSION_CLASSES, TONE_CLASSES, Aggregate, ZoneStat
from edge_agent.audio.talk import count_turns
from edge_agent.config import EngagementWeights
from edge_agent.engagement import engagement_index, participation_rate
from edge_agent.observations import AudioObservation, FrameObservation

#: (valence, arousal) per class on the circumplex; used for the published summaries.
EXPRESSION_VA = {
    "angry": (-0.6, 0.8), "disgust": (-0.7, 0.3), "fear": (-0.6, 0.7), "happy": (0.8, 0.5),
    "sad": (-0.7, -0.4), "surprise": (0.2, 0.8), "neutral": (0.0, 0.0),
}
TONE_VA = {
    "angry": (-0.6, 0.8), "boredom": (-0.3, -0.6), "disgust": (-0.7, 0.3), "fear": (-0.6, 0.7),
    "happy": (0.8, 0.5), "neutral": (0.0, 0.0), "sad": (-0.7, -0.5),
}
#: Least speech (seconds) in a window before a tone mix is published.
MIN_TONE_SPEECH_S = 3.0
#: A track must be seen in at least this share of the window's frames to count as a face.
MIN_TRACK_SHARE = 0.1


@dataclass(frozen=True)
class WindowContext:
    site: str
    room: str
    device: str
    policy: str  # "full" | "no-emotion"
    k: int
    weights: EngagementWeights
    model_versions: dict[str, str]
    hands: bool = True  # hand raises are being detected (else participation is unknown, not zero)


def count_faces(frames: Sequence[FrameObservation]) -> int:
    """Unique faces in the window: tracks seen often enough, else the median per-frame count."""
    if not frames:
        return 0
    tracked = [f.track_id for fr in frames for f in fr.faces if f.track_id is not None]
    if tracked:
        seen: dict[int, int] = defaultdict(int)
        for fr in frames:
            for tid in {f.track_id for f in fr.faces if f.track_id is not None}:
                seen[tid] += 1
        need = max(1, int(np.ceil(MIN_TRACK_SHARE * len(frames))))
        return sum(1 for c in seen.values() if c >= need)
    return int(round(median(len(fr.faces) for fr in frames)))


def count_hand_raises(frames: Sequence[FrameObservation]) -> int:
    """Episodes: a track whose hand goes up counts once until it comes down again."""
    episodes = 0
    up: set[int] = set()
    for fr in sorted(frames, key=lambda f: f.ts):
        now = set(fr.hands_raised)
        episodes += len(now - up)
        up = now
    return episodes


def _mix(vectors: list[np.ndarray], weights: list[float], classes: Sequence[str]) -> dict[str, float] | None:
    if not vectors or sum(weights) <= 0:
        return None
    m = np.average(np.stack(vectors), axis=0, weights=np.asarray(weights, dtype=float))
    m = np.clip(m, 0, None)
    m = m / m.sum() if m.sum() > 0 else np.full(len(classes), 1 / len(classes))
    rounded = {c: round(float(p), 4) for c, p in zip(classes, m, strict=True)}
    return rounded


def _va(mix: dict[str, float] | None, table: dict[str, tuple[float, float]]) -> tuple[float | None, float | None]:
    if not mix:
        return None, None
    v = sum(p * table[c][0] for c, p in mix.items())
    a = sum(p * table[c][1] for c, p in mix.items())
    return round(max(-1.0, min(1.0, v)), 4), round(max(-1.0, min(1.0, a)), 4)


def speech_segments(speech: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) frame ranges of consecutive speech."""
    if speech.size == 0:
        return []
    s = speech.astype(np.int8)
    edges = np.diff(np.concatenate(([0], s, [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def audio_summary(chunks: Sequence[AudioObservation]) -> dict[str, float | int | None]:
    """Speech share, turns, longest silence, overlap and teacher share of one window."""
    chunks = sorted(chunks, key=lambda c: c.ts)
    if not chunks:
        return {"speech_share": None, "speech_turns": 0, "longest_silence_s": None,
                "overlap_share": None, "teacher_talk_share": None}
    frame_s = chunks[0].frame_s
    speech = np.concatenate([c.speech for c in chunks]) if chunks else np.zeros(0, bool)
    if speech.size == 0:
        return {"speech_share": None, "speech_turns": 0, "longest_silence_s": None,
                "overlap_share": None, "teacher_talk_share": None}
    te_all = (np.concatenate([c.teacher for c in chunks])  # type: ignore[misc]
              if all(c.teacher is not None for c in chunks) else None)
    silences = speech_segments(~speech)
    longest = max((e - s for s, e in silences), default=0) * frame_s
    overlap = teacher = None
    n_speech = int(speech.sum())
    if all(c.overlap is not None for c in chunks) and n_speech:
        ov = np.concatenate([c.overlap for c in chunks])  # type: ignore[misc]
        overlap = round(float((ov & speech).sum() / n_speech), 4)
    if all(c.teacher is not None for c in chunks) and n_speech:
        te = np.concatenate([c.teacher for c in chunks])  # type: ignore[misc]
        teacher = round(float((te & speech).sum() / n_speech), 4)
    return {
        "speech_share": round(float(speech.mean()), 4),
        "speech_turns": count_turns(speech, frame_s, te_all),
        "longest_silence_s": round(float(longest), 2),
        "overlap_share": overlap,
        "teacher_talk_share": teacher,
    }


def build_aggregate(
    ctx: WindowContext,
    msg_id: int,
    start: datetime,
    end: datetime,
    frames: Sequence[FrameObservation],
    chunks: Sequence[AudioObservation],
    extra_quality: Sequence[str] = (),
) -> Aggregate:
    """One aggregate for [start, end). ``frames``/``chunks`` are everything observed in it."""
    emotion_allowed = ctx.policy == "full"
    n_faces = count_faces(frames)
    faces = [f for fr in frames for f in fr.faces]
    posed = [f for f in faces if f.attentive is not None]
    attention = round(sum(f.attentive for f in posed) / len(posed), 4) if posed else None
    pose_unknown = round(1 - len(posed) / len(faces), 4) if faces else None

    expr_mix = None
    if emotion_allowed and n_faces >= ctx.k:
        vecs = [f.expression for f in faces if f.expression is not None]
        expr_mix = _mix(vecs, [1.0] * len(vecs), EXPRESSION_CLASSES)
    e_val, e_ar = _va(expr_mix, EXPRESSION_VA)

    zones = None
    zone_faces: dict[str, list] = defaultdict(list)
    for f in faces:
        if f.zone is not None:
            zone_faces[f.zone].append(f)
    if zone_faces:
        zones = []
        for z, fs in sorted(zone_faces.items()):
            tracks = {f.track_id for f in fs if f.track_id is not None}
            nz = len(tracks) if tracks else int(round(len(fs) / max(1, len(frames))))
            zp = [f for f in fs if f.attentive is not None]
            share = round(sum(f.attentive for f in zp) / len(zp), 4) if zp and nz >= ctx.k else None
            zones.append(ZoneStat(zone=z, n_faces=nz, attention_share=share))

    audio = audio_summary(chunks)
    tone_mix = None
    if emotion_allowed:
        tvecs = [c.tone for c in chunks if c.tone is not None and c.tone_weight > 0]
        tw = [c.tone_weight for c in chunks if c.tone is not None and c.tone_weight > 0]
        if sum(tw) >= MIN_TONE_SPEECH_S:
            tone_mix = _mix(tvecs, tw, TONE_CLASSES)
    t_val, t_ar = _va(tone_mix, TONE_VA)

    hand_raises = count_hand_raises(frames)
    window_s = (end - start).total_seconds()
    quality = set(extra_quality)
    for fr in frames:
        quality |= fr.quality
    for c in chunks:
        quality |= c.quality
    valence = e_val if e_val is not None else t_val
    engagement = engagement_index(
        ctx.weights,
        attention_share=attention,
        participation=participation_rate(hand_raises, n_faces, window_s) if n_faces and ctx.hands else None,
        speech_share=audio["speech_share"],  # type: ignore[arg-type]
        valence=valence,
    )
    return Aggregate(
        msg_id=msg_id, site=ctx.site, room=ctx.room, device=ctx.device,
        window_start=start.astimezone(timezone.utc), window_end=end.astimezone(timezone.utc),
        policy=ctx.policy, k_anonymity=ctx.k, n_faces=n_faces,
        attention_share=attention, pose_unknown_share=pose_unknown,
        expression_mix=expr_mix, expression_valence=e_val, expression_arousal=e_ar,
        hand_raises=hand_raises,
        speech_share=audio["speech_share"], speech_turns=audio["speech_turns"],
        longest_silence_s=audio["longest_silence_s"], overlap_share=audio["overlap_share"],
        teacher_talk_share=audio["teacher_talk_share"],
        tone_mix=tone_mix, tone_valence=t_val, tone_arousal=t_ar,
        engagement=engagement, zones=zones, frames_processed=len(frames),
        model_versions=dict(sorted(ctx.model_versions.items())[:16]),
        quality=sorted(quality),
    )
