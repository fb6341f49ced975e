"""Live teaching assistant: short, explained suggestions from the current lesson's windows.

Pure functions over the lesson's windows (oldest first) and the section's usual level; the
rules and thresholds come from ``AssistantConfig``. A suggestion carries a message key and
parameters (the page words it in the teacher's language) plus the numbers behind it, so the
reason is always visible. Teachers' "useful"/"dismiss" feedback is stored per rule; while a
rule is in its cool-down after a suggestion or feedback it stays quiet.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from cloud_aggregator.config.web import AssistantConfig, DropRule, OneSidedTalkRule


@dataclass(frozen=True)
class Suggestion:
    id: str  # stable for one episode: session + rule + first window of the streak
    rule_id: str
    key: str  # i18n key of the suggestion text
    reason_key: str  # i18n key of the plain-words reason
    params: dict[str, Any] = field(default_factory=dict)
    value: float | None = None
    usual: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ts(x: Any) -> datetime:  # noqa: ANN401 - str or datetime
    return x if isinstance(x, datetime) else datetime.fromisoformat(str(x).replace("Z", "+00:00"))


def _minutes(windows: list[dict[str, Any]]) -> float:
    return (_ts(windows[-1]["window_end"]) - _ts(windows[0]["window_start"])).total_seconds() / 60.0


def _falling(values: list[float]) -> bool:
    """Later half lower than the earlier half: 'falling' rather than merely 'low'."""
    h = len(values) // 2
    return h > 0 and sum(values[h:]) / len(values[h:]) < sum(values[:h]) / h


def check_drop(rule: DropRule, windows: list[dict[str, Any]], usual: dict[str, Any], session_id: str
               ) -> Suggestion | None:
    base = usual.get(rule.metric)
    if base is None or base < rule.min_usual or len(windows) < rule.windows:
        return None
    streak: list[dict[str, Any]] = []
    for w in reversed(windows):
        v = w.get(rule.metric)
        if v is None or v >= rule.ratio * base:
            break
        streak.append(w)
    if len(streak) < rule.windows:
        return None
    streak.reverse()
    vals = [float(w[rule.metric]) for w in streak]
    now = vals[-1]
    metric = "attention" if rule.metric == "attention_share" else rule.metric
    trend = "falling" if _falling(vals) else "low"
    return Suggestion(
        id=f"{session_id}:{rule.id}:{streak[0]['window_start']}", rule_id=rule.id,
        key=f"assist.{metric}.suggest", reason_key=f"assist.{metric}.{trend}",
        params={"minutes": round(_minutes(streak)), "now": round(now * 100), "usual": round(base * 100)},
        value=now, usual=base)


def check_one_sided(rule: OneSidedTalkRule, windows: list[dict[str, Any]], session_id: str) -> Suggestion | None:
    streak: list[dict[str, Any]] = []
    for w in reversed(windows):
        t = w.get("teacher_talk_share")
        if t is None or t <= rule.share:
            break
        streak.append(w)
    if not streak:
        return None
    streak.reverse()
    minutes = _minutes(streak)
    if minutes < rule.minutes:
        return None
    share = sum(float(w["teacher_talk_share"]) for w in streak) / len(streak)
    return Suggestion(
        id=f"{session_id}:{rule.id}:{streak[0]['window_start']}", rule_id=rule.id,
        key="assist.talk.suggest", reason_key="assist.talk.one_sided",
        params={"minutes": round(minutes), "share": round(share * 100)}, value=share, usual=None)


def suggest(cfg: AssistantConfig, windows: list[dict[str, Any]], usual: dict[str, Any], session_id: str,
            quiet_rules: set[str] = frozenset()) -> Suggestion | None:  # type: ignore[assignment]
    """The first rule that fires (drop rules in config order, then one-sided talk), or None.

    ``usual`` holds the section's usual level per metric and ``n_sessions``; with fewer than
    ``min_usual_sessions`` past sessions only the talk rule (which needs no baseline) can fire.
    ``quiet_rules`` are in their cool-down.
    """
    if not cfg.enabled or not windows:
        return None
    if int(usual.get("n_sessions") or 0) >= cfg.min_usual_sessions:
        for rule in cfg.drop_rules:
            if rule.id not in quiet_rules and (s := check_drop(rule, windows, usual, session_id)):
                return s
    if cfg.one_sided_talk and cfg.one_sided_talk.id not in quiet_rules:
        return check_one_sided(cfg.one_sided_talk, windows, session_id)
    return None
