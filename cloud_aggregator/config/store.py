"""``store:`` section: SQLite file for one school, PostgreSQL for a district."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from cloud_aggregator.config.section import Section


class StoreConfig(Section):
    backend: Literal["sqlite", "postgres"] = "sqlite"
    path: Path = Path("data/aggregator.db")
    dsn: str | None = Field(None, description="postgresql://user@host:5432/db for backend postgres")

    @model_validator(mode="after")
    def _dsn(self) -> StoreConfig:
        if self.backend == "postgres" and not self.dsn:
            raise ValueError("backend postgres needs a dsn")
        return self
