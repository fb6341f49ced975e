"""Aggregator configuration (pydantic, ``extra="forbid"``), YAML + ``CLASSPULSE_CLOUD__…`` overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from classpulse_contract.config_io import load_config
from cloud_aggregator.enrolment import EnrolmentConfig
from cloud_aggregator.records.keys import RecordsConfig
from cloud_aggregator.warnings.config import WarningsConfig
from cloud_aggregator.web.config import DashboardConfig

ENV_PREFIX = "CLASSPULSE_CLOUD"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TlsConfig(_Section):
    ca_file: Path
    cert_file: Path | None = None
    key_file: Path | None = None


class MqttConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password_file: Path | None = None
    tls: TlsConfig | None = None
    client_id: str = Field("classpulse-aggregator", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    shared_group: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$",
                                     description="subscribe as $share/<group>/… so processes split the load")
    keepalive_s: int = Field(30, ge=5, le=600)
    protocol: Literal["5", "3.1.1"] = Field("5", description="3.1.1 for brokers without MQTT 5 (receive maximum "
                                            "then comes from the broker, e.g. mosquitto max_inflight_messages)")
    receive_maximum: int = Field(1000, ge=1, le=65535, description="unacked messages the broker may send us")
    session_expiry_s: int = Field(7 * 86400, ge=60, description="how long the broker keeps our queue while we are away")
    persistent_session: bool = Field(True, description="keep a broker session (queue while away); false: a clean "
                                     "session that leaves nothing on the broker (the demo on a borrowed broker)")


class StoreConfig(_Section):
    backend: Literal["sqlite", "postgres"] = "sqlite"
    path: Path = Path("data/aggregator.db")
    dsn: str | None = Field(None, description="postgresql://user@host:5432/db for backend postgres")

    @model_validator(mode="after")
    def _dsn(self) -> StoreConfig:
        if self.backend == "postgres" and not self.dsn:
            raise ValueError("backend postgres needs a dsn")
        return self


class IngestConfig(_Section):
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


class WebConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    trusted_proxies: list[str] = Field(default_factory=list, description="addresses/networks of our own reverse "
                                       "proxies; X-Forwarded-For is believed only from these (default: from nobody)")

    @model_validator(mode="after")
    def _proxies(self) -> WebConfig:
        from cloud_aggregator.web.client_address import parse_networks

        parse_networks(self.trusted_proxies)
        return self


class AggregatorConfig(_Section):
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    records: RecordsConfig = Field(default_factory=RecordsConfig)
    dashboard: DashboardConfig = Field(default_factory=DashboardConfig)
    warnings: WarningsConfig = Field(default_factory=WarningsConfig)
    enrolment: EnrolmentConfig = Field(default_factory=EnrolmentConfig)
    retention_days: int = Field(180, ge=1)


def load_aggregator_config(path: str | Path | None) -> AggregatorConfig:
    return load_config(AggregatorConfig, path, ENV_PREFIX)
