"""The teacher's live view, the rooms overview and the teaching assistant."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from . import Out


class Zone(Out):
    zone: str
    n_faces: int
    attention_share: float | None = Field(description="null when the zone has fewer than k faces")


class Window(Out):
    """One stored window as the live page shows it (``live.window_view``: a field the stored payload lacks is null)."""

    msg_id: int | None
    device: str | None
    window_start: str
    window_end: str
    policy: str | None
    n_faces: int | None
    attention_share: float | None
    engagement: float | None
    hand_raises: int | None
    speech_share: float | None
    teacher_talk_share: float | None
    speech_turns: int | None
    tone_mix: dict[str, float] | None
    zones: list[Zone] | None
    quality: list[str] | None
    participation: float | None
    coverage_flags: list[str]


class RoomWindow(Window):
    site: str
    room: str
    room_name: str | None
    section_id: str | None
    section_title: str | None


class NextLesson(Out):
    section_id: str
    site: str
    room: str
    start_local: str
    weekday: int
    period: str


class DeviceState(Out):
    state: str
    device: str | None
    last_seen: str | None


class Lesson(Out):
    section_id: str
    session_id: str
    title: str
    site: str
    room: str
    period: str
    room_name: str
    start_utc: str
    end_utc: str
    start_local: str
    end_local: str
    date: str


class Usual(Out):
    """The section's mean level over its last lessons (null: no past lesson measured it)."""

    n_sessions: int
    attention_share: float | None
    engagement: float | None
    participation: float | None
    speech_share: float | None


class LiveOutside(Out):
    """No lesson of these sections now: when the next one is."""

    now: str
    sections: dict[str, str]
    zone_k: int
    state: Literal["outside"]
    lesson: None
    next: NextLesson | None


class LiveLesson(Out):
    """A lesson is on: its device, its windows so far and the section's usual level."""

    now: str
    sections: dict[str, str]
    zone_k: int
    state: Literal["offline", "no_data", "live"]
    device: DeviceState
    windows: list[Window]
    lesson: Lesson
    usual: Usual


LiveOut = Annotated[LiveOutside | LiveLesson, Field(discriminator="state")]


class Suggestion(Out):
    id: str
    rule_id: str
    key: str
    reason_key: str
    params: dict[str, Any]
    value: float | None
    usual: float | None


class AssistantQuiet(Out):
    suggestion: None
    state: Literal["outside", "offline", "no_data"]


class AssistantLive(Out):
    suggestion: Suggestion | None
    state: Literal["live"]
    session_id: str


AssistantOut = Annotated[AssistantQuiet | AssistantLive, Field(discriminator="state")]


class FeedbackCount(Out):
    rule_id: str
    verdict: str
    n: int
