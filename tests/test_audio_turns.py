"""Turn counting, silences and teacher attribution (pure functions)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.audio.talk import (
    count_turns,
    longest_silence_s,
    merge_gaps,
    runs,
    talk_summary,
    teacher_by_level,
)


def mask(*spans: tuple[int, int], n: int = 1000) -> np.ndarray:
    m = np.zeros(n, bool)
    for s, e in spans:
        m[s:e] = True
    return m


def test_short_pauses_inside_a_sentence_are_one_turn():
    m = mask((100, 200), (220, 300), (310, 400))  # 200 ms and 100 ms gaps
    assert count_turns(m, 0.01) == 1
    assert count_turns(m, 0.01, merge_gap_s=0.05) == 3


def test_blips_are_not_turns_and_long_pauses_split():
    m = mask((100, 300), (500, 510), (700, 900))  # a 100 ms click between two sentences
    assert count_turns(m, 0.01) == 2
    assert longest_silence_s(m, 0.01) == 2.0


def test_teacher_student_switch_without_pause_is_a_new_turn():
    m = mask((100, 500))
    t = mask((100, 300))
    assert count_turns(m, 0.01) == 1
    assert count_turns(m, 0.01, teacher=t) == 2
    s = talk_summary(m, 0.01, teacher=t, overlap=mask((290, 310)))
    assert s["teacher_talk_share"] == 0.5 and s["overlap_share"] == 0.05 and s["speech_turns"] == 2


def test_teacher_by_level_uses_calibrated_level():
    sp = mask((0, 100), (200, 300), n=400)
    db = np.full(400, -60.0)
    db[0:100], db[200:300] = -20.0, -35.0
    t = teacher_by_level(sp, db, level_dbfs=-22.0, margin_db=6.0)
    assert t[0:100].all() and not t[200:300].any()


def test_empty_window():
    s = talk_summary(np.zeros(0, bool), 0.01)
    assert s["speech_share"] is None and s["speech_turns"] == 0


@given(st.lists(st.booleans(), max_size=400), st.integers(1, 50))
def test_merge_gaps_only_adds_speech_and_keeps_runs_ordered(bits, gap):
    m = np.array(bits, dtype=bool)
    g = merge_gaps(m, gap)
    assert (g | m).sum() == g.sum()
    assert len(runs(g)) <= max(1, len(runs(m))) or not m.any()
    assert count_turns(m, 0.01) <= len(runs(m))


def test_calibration_teacher_level_gives_teacher_share():
    from edge_agent.audio.calibrate import audio_calibration_section
    from edge_agent.audio.stage import AudioPipelineStage
    from edge_agent.config import AgentConfig
    from tests._audio_helpers import chunks, noisy_lesson

    x, scene = noisy_lesson(15.0)
    sp = scene.speech.repeat(160)[: len(x)]
    room = x[: int(0.9 * 16000)]  # the lead-in before anyone speaks
    teacher = x[: len(sp)][np.repeat(scene.teacher, 160)[: len(sp)]]
    cal = audio_calibration_section(room, teacher)
    assert -80 < cal["audio"]["noise_floor_dbfs"] < cal["audio"]["teacher"]["level_dbfs"] < 0
    st = AudioPipelineStage(AgentConfig(policy="no-emotion"), cal)
    obs = [st.process(t, c, 16000) for t, c in chunks(x)]
    speech = np.concatenate([o.speech for o in obs])
    teach = np.concatenate([o.teacher for o in obs])
    share = talk_summary(speech, 0.01, teach)["teacher_talk_share"]
    true = scene.teacher.sum() / scene.speech.sum()
    assert abs(share - true) < 0.15, (share, true)
