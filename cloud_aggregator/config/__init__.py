"""Aggregator configuration (pydantic, ``extra="forbid"``), YAML + ``CLASSPULSE_CLOUD__…`` overrides.

One module per section; this package imports nothing else of the aggregator, so every layer (store,
warnings, web) may read its own section without pulling in another layer.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from classpulse_contract.config_io import load_config
from cloud_aggregator.config.broker import MqttConfig
from cloud_aggregator.config.enrolment import EnrolmentConfig
from cloud_aggregator.config.ingest import IngestConfig
from cloud_aggregator.config.records import RecordsConfig
from cloud_aggregator.config.section import Section
from cloud_aggregator.config.store import StoreConfig
from cloud_aggregator.config.warnings import WarningsConfig
from cloud_aggregator.config.web import DashboardConfig, WebConfig

ENV_PREFIX = "CLASSPULSE_CLOUD"


class AggregatorConfig(Section):
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
    """The config in ``path`` (None: defaults) with ``CLASSPULSE_CLOUD__…`` overrides; raises ConfigError."""
    return load_config(AggregatorConfig, path, ENV_PREFIX)
