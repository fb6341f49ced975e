"""``ingest:`` section: batching, clock skew, unregistered devices and end-to-end acks."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cloud_aggregator.config.section import Section


class IngestConfig(Section):
    batch_size: int = Field(200, ge=1, le=10_000)
    flush_ms: int = Field(200, ge=1, le=10_000, description="longest a message waits before its batch commits")
    idle_flush_ms: int = Field(5, ge=1, le=10_000, description="commit early when no message came for this long")
    max_clock_skew_s: float = Field(300.0, ge=0, description="windows ending further in the future are rejected")
    unregistered_devices: Literal["accept", "dead_letter"] = Field(
        "dead_letter", description="messages from a device not in the registry: dead_letter (a real deployment) or "
        "accept (a demo or test broker without enrolment); a registered device in the wrong room is always refused")
    end_to_end_acks: bool = Field(True, description="after each commit publish the retained per-device ack "
                                  "(contract 1.2) so devices keep windows until they are stored")
    ack_flush_ms: int = Field(1000, ge=0, le=10_000, description="at most one ack per device this often; "
                              "a device catching up gets one ack for many windows")
