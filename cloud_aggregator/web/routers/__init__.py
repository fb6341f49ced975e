"""The API's routers, one per domain; ``web.app.create_app`` mounts them all."""

from __future__ import annotations

from typing import Any

#: OpenAPI note of the throttled public operations (login, enrolment)
THROTTLED: dict[int | str, dict[str, Any]] = {
    429: {"description": "too many failed attempts; retry after the Retry-After header's seconds"}}
