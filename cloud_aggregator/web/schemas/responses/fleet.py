"""The IT fleet: devices, dead letters, commands, enrolment and ingest counters."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from . import Out


class FleetDevice(Out):
    """A device with its latest health (null: not reported)."""

    device: str
    site: str
    room: str
    online: bool
    room_name: str | None
    state: str | None
    last_seen: str | None
    temp_c: float | None
    outbox_depth: int | None
    fps: float | None
    policy: str | None
    outbox_oldest_unconfirmed_s: float | None
    delivery_confirmation: str | None
    model_versions: dict[str, str]
    last_model_update: str | None
    sensing: bool | None
    camera_ok: bool | None
    mic_ok: bool | None
    cpu_load: float | None
    disk_free_mb: float | None
    quality: list[str]
    target_fps: float | None
    fps_behind: bool
    vision_level: int | None
    vision_level_name: str | None


class FleetOut(Out):
    devices: list[FleetDevice]
    online: int
    total: int


class DeadLetter(Out):
    """A refused message without its body: where from, why, how big, how often."""

    id: str
    received_at: str
    last_seen: str | None
    topic: str
    reason: str
    size: int
    count: int
    device: str | None


class DeadLettersOut(Out):
    total: int
    limit: int
    offset: int
    items: list[DeadLetter]


class DeviceCommand(Out):
    cmd_id: str
    device: str
    site: str
    room: str
    command: str
    args: dict[str, Any]
    issued_by: str | None
    issued_at: str
    result_ok: int | None = Field(description="1 or 0 once the device answered")
    result_detail: str | None
    result_at: str | None


class SentCommand(DeviceCommand):
    published: bool


class TokenOut(Out):
    token: str = Field(description="shown once; only its hash is stored")
    device: str
    site: str
    room: str
    expires_in_h: int
    rekey: bool


class RoomRef(Out):
    site: str
    room: str


class MoveOut(Out):
    device: str
    site: str
    room: str
    previous: RoomRef
    broker_reloaded: bool


class BrokerCredentials(Out):
    host: str
    port: int
    username: str
    password: str
    ca_pem: str | None = Field(None, description="present when the broker's CA is configured")
    cert_pem: str | None = Field(None, description="present when the aggregator signs device certificates")


class EnrolOut(Out):
    device: str
    site: str
    room: str
    mqtt: BrokerCredentials
    broker_reloaded: bool


class IngestCounters(Out):
    """Ingest's counters since start (empty when this process runs no ingest)."""

    received: int | None = None
    stored: int | None = None
    duplicates: int | None = None
    dead_letters: int | None = None
    last_lag_s: float | None = None
    last_store_ms: float | None = None
    last_latency_ms: float | None = None
    max_lag_s: float | None = None
    batches: int | None = None
    errors: int | None = None
    acks_published: int | None = None
    started: float | None = None


class IngestOut(Out):
    ingest: IngestCounters
    sse_clients: int
    dead_letters: int
