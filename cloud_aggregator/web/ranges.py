"""Bounds for dates that come from outside (query strings, request bodies).

A date far from today is never a real school day; without bounds ``0001-01-01`` or ``9999-12-31``
overflowed week arithmetic into a 500. Anything outside [MIN_DAY, MAX_DAY] is a 422 at the edge.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import Field

MIN_DAY, MAX_DAY = date(2000, 1, 1), date(2099, 12, 31)
Day = Annotated[date, Field(ge=MIN_DAY, le=MAX_DAY, description=f"a day from {MIN_DAY} to {MAX_DAY}")]
