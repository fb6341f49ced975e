"""Teaching-assistant rules (pure): when they fire, why, and when they stay quiet."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_aggregator.config.web import AssistantConfig, DashboardConfig
from cloud_aggregator.web.assistant import suggest

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
USUAL = {"n_sessions": 5, "attention_share": 0.7, "engagement": 0.6, "participation": 0.4}


def windows(att: list[float], talk: list[float | None] | None = None, span_s: int = 60, part: float = 0.4):
    out = []
    for i, a in enumerate(att):
        s = T0 + timedelta(seconds=span_s * i)
        out.append({"window_start": s.isoformat(), "window_end": (s + timedelta(seconds=span_s)).isoformat(),
                    "attention_share": a, "engagement": 0.6, "participation": part,
                    "teacher_talk_share": talk[i] if talk else None})
    return out


def test_attention_falling_for_several_windows_fires_with_reason():
    ws = windows([0.72, 0.7, 0.6, 0.5, 0.45, 0.4, 0.35])
    s = suggest(AssistantConfig(), ws, USUAL, "sec:2026-03-02:1")
    assert s is not None and s.rule_id == "attention_drop"
    assert s.reason_key == "assist.attention.falling" and s.key == "assist.attention.suggest"
    assert s.params == {"minutes": 4, "now": 35, "usual": 70}
    assert s.id.startswith("sec:2026-03-02:1:attention_drop:")


def test_short_dip_or_normal_level_stays_quiet():
    assert suggest(AssistantConfig(), windows([0.7, 0.4, 0.4, 0.7, 0.4]), USUAL, "s") is None
    assert suggest(AssistantConfig(), windows([0.66] * 20), USUAL, "s") is None


def test_no_usual_level_no_drop_rule():
    ws = windows([0.2] * 10)
    assert suggest(AssistantConfig(), ws, {**USUAL, "n_sessions": 1}, "s") is None
    assert suggest(AssistantConfig(), ws, {**USUAL, "attention_share": None}, "s") is None


def test_quiet_rules_and_disabled():
    ws = windows([0.3] * 6)
    assert suggest(AssistantConfig(), ws, USUAL, "s", {"attention_drop"}) is None
    assert suggest(AssistantConfig(enabled=False), ws, USUAL, "s") is None


def test_participation_rule():
    ws = windows([0.7] * 6, part=0.1)
    s = suggest(AssistantConfig(), ws, USUAL, "s")
    assert s is not None and s.rule_id == "participation_drop" and s.params["usual"] == 40


def test_one_sided_talk_needs_minutes_not_windows():
    cfg = AssistantConfig()
    assert suggest(cfg, windows([0.7] * 7, talk=[0.95] * 7), USUAL, "s") is None  # 7 min < 8 min
    s = suggest(cfg, windows([0.7] * 9, talk=[0.95] * 9), USUAL, "s")
    assert s is not None and s.rule_id == "one_sided_talk" and s.params == {"minutes": 9, "share": 95}
    assert suggest(cfg, windows([0.7] * 9, talk=[0.95] * 8 + [0.5]), USUAL, "s") is None


def test_thresholds_come_from_config():
    cfg = DashboardConfig.model_validate({"assistant": {"drop_rules": [
        {"id": "eng", "metric": "engagement", "ratio": 0.9, "windows": 2}], "one_sided_talk": None}}).assistant
    ws = windows([0.7] * 3)
    for w in ws:
        w["engagement"] = 0.5
    assert suggest(cfg, ws, USUAL, "s").rule_id == "eng"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(0, 1)), max_size=40),
       st.lists(st.one_of(st.none(), st.floats(0, 1)), min_size=40, max_size=40), st.floats(0, 1))
def test_never_crashes_and_reasons_are_honest(att, talk, usual):
    ws = windows([a for a in att], talk=talk[:len(att)])
    s = suggest(AssistantConfig(), ws, {**USUAL, "attention_share": usual, "participation": usual}, "s")
    if s is not None and s.rule_id == "attention_drop":
        assert s.value < 0.75 * usual and all(w["attention_share"] is not None for w in ws[-4:])
