"""``records:`` section: where the records key lives and how large an import may be.

Loading the key (environment first, then ``key_file``) is ``cloud_aggregator.records.keys.load_keys``.
"""

from __future__ import annotations

from pydantic import Field

from cloud_aggregator.config.section import Section


class RecordsConfig(Section):
    """``records:`` section of the cloud config."""

    key_file: str | None = Field(None, description="file holding the base64 records secret (mode 0600)")
    max_file_mb: int = Field(512, ge=1, le=16384, description="refuse CSV files larger than this")
    max_rows: int = Field(5_000_000, ge=1, description="refuse more rows than this per file")
