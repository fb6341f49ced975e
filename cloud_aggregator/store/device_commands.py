"""Commands the fleet view sent to devices over MQTT (``device_commands``), and their results.

A row is written when the command is published; the device's ``cmd/result`` answer fills in the outcome.
``args`` is stored as JSON text and handed back as stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import db
from .web_tables import DEVICE_COMMANDS

if TYPE_CHECKING:
    from .base import Store


def record_command(store: Store, row: dict[str, Any]) -> None:
    """Store a command just published (a ``DEVICE_COMMANDS`` row, ``args`` as JSON text, no result yet)."""
    db.insert(store, DEVICE_COMMANDS, [row])


def record_result(store: Store, cmd_id: str, device: str, ok: bool, detail: str, at: str) -> None:
    """The device's answer to one of its own commands (a result naming another device's command changes nothing)."""
    db.write(store, "UPDATE device_commands SET result_ok = ?, result_detail = ?, result_at = ? "
                    "WHERE cmd_id = ? AND device = ?", (int(ok), detail, at, cmd_id, device))


def recent_commands(store: Store, device: str | None, limit: int) -> list[dict[str, Any]]:
    """The latest ``limit`` commands, newest first, of one device or (``device`` None) of all."""
    if device:
        return db.query(store, "SELECT * FROM device_commands WHERE device = ? ORDER BY issued_at DESC LIMIT ?",
                        (device, limit))
    return db.query(store, "SELECT * FROM device_commands ORDER BY issued_at DESC LIMIT ?", (limit,))
