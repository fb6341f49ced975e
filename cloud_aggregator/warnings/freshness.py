"""How old each input is at run time, so stale or missing data shows as such instead of as low risk."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from cloud_aggregator.config.warnings import Freshness


@dataclass(frozen=True)
class SourceFreshness:
    source: str
    latest: str | None  # YYYY-MM-DD, None = no data at all
    age_days: float | None
    max_age_days: float
    stale: bool  # too old, or missing

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def assess(latest: dict[str, str | None], now: datetime, cfg: Freshness) -> dict[str, SourceFreshness]:
    """Pure: each source's age in days at ``now`` (a date counts from its end) and whether it is stale."""
    out = {}
    for src, day in latest.items():
        limit = cfg.max_age_days.get(src, 7.0)  # type: ignore[call-overload]
        if day is None:  # missing = stale, unless the institution never collects it
            out[src] = SourceFreshness(src, None, None, limit, src not in cfg.not_collected)
            continue
        end = datetime.fromisoformat(day + "T23:59:59+00:00")
        age = max(0.0, (now - end).total_seconds() / 86400.0)
        out[src] = SourceFreshness(src, day, round(age, 2), limit, age > limit)
    return out
