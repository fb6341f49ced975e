"""End-to-end delivery confirmation for the outbox: what may be forgotten, and what must go again.

A broker's PUBACK says only that the broker took a message; a broker without persistence
that restarts loses it. So once the aggregator has been seen to acknowledge (contract 1.2,
retained ``.../<device>/ack`` listing the msg_ids it committed), a row stays in the outbox
until its msg_id is listed, and is sent again after a reconnect or ``confirm_timeout_s``.

Compatibility: a device starts in ack mode (forgetting its first windows at PUBACK would
lose exactly those a fresh broker drops before the aggregator subscribed). If no ack comes
for ``ack_fallback_s`` while PUBACKed rows wait — an aggregator older than 1.2, or one
downgraded — it falls back to PUBACK mode (remembered in the outbox) and forgets rows at
their PUBACK as before, so an old aggregator can never make the outbox grow until it drops;
the next ack seen switches ack mode on again. Pure state: no I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: outbox_meta key: 1 while the aggregator is known to send end-to-end acks
ACK_MODE_KEY = "acks_seen"


@dataclass
class Confirmations:
    """Rows sent and PUBACKed but not yet confirmed by the aggregator (times are monotonic seconds)."""

    ack_mode: bool = False
    confirm_timeout_s: float = 30.0
    ack_fallback_s: float = 900.0
    max_unconfirmed: int = 64
    sent: dict[int, float] = field(default_factory=dict)  # row id -> last send
    first_sent: dict[int, float] = field(default_factory=dict)  # row id -> first PUBACK
    sent_upto: int = 0  # highest row id sent since the last (re)connect
    last_ack: float | None = None

    def reconnected(self) -> None:
        """A new connection: nothing in flight is trusted, everything unconfirmed goes again in order."""
        self.sent.clear()
        self.sent_upto = 0

    def window_full(self) -> bool:
        return self.ack_mode and len(self.sent) >= self.max_unconfirmed

    def due_again(self, now: float) -> int | None:
        """The oldest row whose confirmation is overdue (it is sent again), if any."""
        late = [rid for rid, t in self.sent.items() if now - t >= self.confirm_timeout_s]
        return min(late) if late else None

    def published(self, row_id: int, now: float) -> bool:
        """The broker PUBACKed ``row_id``; returns True when the row may be deleted right away (PUBACK mode)."""
        self.sent_upto = max(self.sent_upto, row_id)
        if not self.ack_mode:
            return True
        self.sent[row_id] = now
        self.first_sent.setdefault(row_id, now)
        return False

    def acked(self, row_ids: list[int], now: float) -> bool:
        """The aggregator confirmed these (already deleted) rows; returns True if this switched ack mode on."""
        self.last_ack = now
        for rid in row_ids:
            self.sent.pop(rid, None)
            self.first_sent.pop(rid, None)
        switched, self.ack_mode = not self.ack_mode, True
        return switched

    def forgotten(self, row_ids: set[int]) -> None:
        """Rows that left the outbox otherwise (dropped by the bound)."""
        for rid in list(self.sent):
            if rid in row_ids:
                self.sent.pop(rid, None)
                self.first_sent.pop(rid, None)

    def fallback_due(self, now: float) -> bool:
        """Ack mode, rows waiting longer than ``ack_fallback_s`` since their first PUBACK and no ack since."""
        if not self.ack_mode or not self.first_sent:
            return False
        oldest = min(self.first_sent.values())
        return now - oldest >= self.ack_fallback_s and (self.last_ack is None or self.last_ack < oldest)

    def fall_back(self) -> list[int]:
        """Leave ack mode; returns the PUBACKed rows that may now be deleted."""
        rows = sorted(self.sent)
        self.ack_mode = False
        self.sent.clear()
        self.first_sent.clear()
        return rows
