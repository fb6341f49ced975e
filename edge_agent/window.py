"""Turn one window of observations into a wire-contract aggregate (pure functions).

This is where privacy rules are applied on the device: k-anonymity for the
expression mix and for seat zones, and the policy mode. The contract validator
checks the same rules again on both sides.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from statistics import median

import numpy as np

from classpulse_contract import EXPRESSION_CLASSES, TONE_CLASSES, Aggregate, ZoneStat
from classpulse_contract.participation import measured_participation
from edge_agent.audio.talk import count_turns
from edge_agent.config import AgentConfig, CoverageConfig, EngagementWeights
from edge_agent.coverage import hand_frames, measure
from edge_agent.engagement import expected_signals, published_engagement
from edge_agent.observations import AudioObservation, FrameObservation
from edge_agent.windowing import OpenWindow, msg_id_for, to_dt

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
    coverage: CoverageConfig = field(default_factory=CoverageConfig)
    camera: bool = True  # the box has a video source (else vision fields are null, not starved)
    mic: bool = True  # the box has an audio source


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


NO_AUDIO: dict[str, float | int | None] = {"speech_share": None, "speech_turns": None, "longest_silence_s": None,
                                           "overlap_share": None, "teacher_talk_share": None}


def audio_summary(chunks: Sequence[AudioObservation]) -> dict[str, float | int | None]:
    """Speech share, turns, longest silence, overlap and teacher share of one window (all null: no audio)."""
    chunks = sorted(chunks, key=lambda c: c.ts)
    if not chunks:
        return dict(NO_AUDIO)
    frame_s = chunks[0].frame_s
    speech = np.concatenate([c.speech for c in chunks]) if chunks else np.zeros(0, bool)
    if speech.size == 0:
        return dict(NO_AUDIO)
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
    observed: tuple[float, float] | None = None,
) -> Aggregate:
    """One aggregate for [start, end). ``frames``/``chunks`` are everything observed in it.

    ``observed`` (epoch seconds, default the whole window) is the part the agent was sensing; each
    signal's coverage is measured against it, and a signal below ``ctx.coverage`` publishes nulls and a
    coverage flag, never zeros (docs/engagement.md).
    """
    cov = measure(frames, chunks, observed or (start.timestamp(), end.timestamp()), ctx.coverage,
                  ctx.camera, ctx.mic)
    quality = set(extra_quality)  # a starved stage's frame/chunk flags still say what it saw
    for fr in frames:
        quality |= fr.quality
    for c in chunks:
        quality |= c.quality
    if not cov.vision_ok:
        frames = ()
    if not cov.audio_ok:
        chunks = ()
    emotion_allowed = ctx.policy == "full"
    n_faces = count_faces(frames) if cov.vision_ok else None
    faces = [f for fr in frames for f in fr.faces]
    posed = [f for f in faces if f.attentive is not None]
    attention = round(sum(f.attentive for f in posed) / len(posed), 4) if posed else None
    pose_unknown = round(1 - len(posed) / len(faces), 4) if faces else None

    expr_mix = None
    if emotion_allowed and n_faces is not None and n_faces >= ctx.k:
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

    audio = audio_summary(chunks) if cov.audio_ok else dict(NO_AUDIO)
    tone_mix = None
    if emotion_allowed:
        tvecs = [c.tone for c in chunks if c.tone is not None and c.tone_weight > 0]
        tw = [c.tone_weight for c in chunks if c.tone is not None and c.tone_weight > 0]
        if sum(tw) >= MIN_TONE_SPEECH_S:
            tone_mix = _mix(tvecs, tw, TONE_CLASSES)
    t_val, t_ar = _va(tone_mix, TONE_VA)

    # a hand-raise count from part of the window would read as a quiet class: null unless looked for enough
    hand_raises = count_hand_raises(hand_frames(frames)) if cov.vision_ok and cov.hands_ok and ctx.hands else None
    window_s = (end - start).total_seconds()
    valence = e_val if e_val is not None else t_val
    engagement = published_engagement(
        ctx.weights,
        expected_signals(camera=ctx.camera, mic=ctx.mic, hands=ctx.hands, emotion=emotion_allowed),
        ctx.coverage.min_engagement_weight,
        attention_share=attention,
        participation=measured_participation(hand_raises, n_faces, window_s),
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
        engagement=engagement, zones=zones, frames_processed=cov.vision_frames,
        model_versions=dict(sorted(ctx.model_versions.items())[:16]),
        quality=sorted(quality),
        vision_coverage=cov.vision_share, audio_coverage=cov.audio_share, vision_level=cov.vision_level,
        coverage_flags=cov.flags,
    )


#: A final window shorter than this share of window_s is still emitted, flagged partial.
PARTIAL_SHARE = 0.9


def window_context(cfg: AgentConfig, versions: dict[str, str], camera: bool | None = None,
                   mic: bool | None = None) -> WindowContext:
    """``camera``/``mic``: whether the run has that source (default: the config names one)."""
    policy = cfg.policy if cfg.policy != "off" else "no-emotion"
    return WindowContext(site=cfg.device.site, room=cfg.device.room, device=cfg.device.id,
                         policy=policy, k=cfg.k_anonymity, weights=cfg.engagement, model_versions=versions,
                         hands=cfg.vision.hand_raises, coverage=cfg.coverage,
                         camera=bool(cfg.video.source) if camera is None else camera,
                         mic=bool(cfg.audio.source) if mic is None else mic)


#: An observation stands for this long after its timestamp when the observed span is measured (a frame
#: or chunk at the window's last second still covers that second).
TAIL_S = 1.0


def observed_span(w: OpenWindow) -> tuple[float, float]:
    """The part of the window the agent was sensing: from its first to just after its last observation."""
    if w.first_ts is None or w.last_ts is None:
        return w.start, w.end
    first = w.start if w.first_ts - w.start <= TAIL_S else w.first_ts
    return first, min(w.end, w.last_ts + TAIL_S) if w.end - w.last_ts > TAIL_S else w.end


def finish_window(ctx: WindowContext, w: OpenWindow, window_s: float) -> Aggregate:
    """Close an open window into its aggregate: the one path replay and the live runner share."""
    flags = set(w.quality)
    covered = (w.last_ts - w.start) if w.last_ts is not None else 0.0
    if covered < PARTIAL_SHARE * window_s - 1.0:
        flags.add("partial_window")
    return build_aggregate(ctx, msg_id_for(w.start), to_dt(w.start), to_dt(w.end), w.frames, w.chunks,
                           sorted(flags), observed=observed_span(w))
