"""End-to-end acknowledgement (contract 1.2): after a commit, tell each device which msg_ids are safe.

Published retained on ``classpulse/v1/<site>/<room>/<device>/ack``, a topic only that device may
read, at QoS 0: a lost ack costs one resend, and QoS 1 would add a PUBACK round per window to
ingest's hot path (profiled: the ack publish is the largest single cost after validation). The list holds the device's most recent committed msg_ids — stored, a
duplicate of a stored window, or dead-lettered with a reason — because resending any of those
cannot change the store. A message the store did not commit is never listed, so a crash
between commit and ack costs a harmless resend, never a loss. Workers of a shared
subscription each keep their own list; the device sees every live ack, and a resend after its
timeout is acked by whichever worker takes it.
"""

from __future__ import annotations

import json
from collections import OrderedDict, deque
from collections.abc import Iterable
from datetime import datetime, timezone

from classpulse_contract import parse_topic, topic
from classpulse_contract.v1 import CONTRACT_VERSION

#: Devices whose lists are kept in memory (least recently acked forgotten first).
MAX_DEVICES = 50_000
#: msg_ids listed per device: above a device's 64 unconfirmed in flight, below the contract's 256.
KEEP_IDS = 96


def ack_payload(device: str, ts: datetime, msg_ids: list[int]) -> bytes:
    """The ``classpulse.ack`` JSON, written directly (profiled hot path; ``tests`` check it parses as ``Ack``)."""
    return (f'{{"schema":"classpulse.ack","version":"{CONTRACT_VERSION}","device":"{device}",'
            f'"ts":"{ts.isoformat()}","msg_ids":[{",".join(map(str, msg_ids))}]}}').encode()


class AckBook:
    """Per-device recent committed msg_ids. ``record`` after each commit; ``due`` returns the acks to publish,
    at most one per device every ``flush_s`` (a device catching up sends many windows; one ack covers them)."""

    def __init__(self, max_ids: int = KEEP_IDS, max_devices: int = MAX_DEVICES, flush_s: float = 1.0):
        self.max_ids = max_ids
        self.max_devices = max_devices
        self.flush_s = flush_s
        self._ids: OrderedDict[str, deque[int]] = OrderedDict()
        self._pending: dict[str, str] = {}  # device -> ack topic, committed since the last flush
        self._flushed = 0.0

    def record(self, committed: Iterable[tuple[str, str, str, int]]) -> None:
        """``committed``: (site, room, device, msg_id) of one committed batch."""
        for site, room, device, msg_id in committed:
            ids = self._ids.get(device)
            if ids is None:
                ids = self._ids[device] = deque(maxlen=self.max_ids)
                while len(self._ids) > self.max_devices:
                    self._ids.popitem(last=False)
            self._ids.move_to_end(device)
            if msg_id in ids:
                ids.remove(msg_id)  # moves to the newest end, so a resend of an old one is listed again
            ids.append(msg_id)
            if device not in self._pending:
                self._pending[device] = topic(site, room, device, "ack")

    def due(self, now: float, force: bool = False) -> list[tuple[str, bytes]]:
        """(topic, payload) of every device with news, if ``flush_s`` passed since the last flush (or ``force``)."""
        if not self._pending or (not force and now - self._flushed < self.flush_s):
            return []
        self._flushed = now
        ts = datetime.now(timezone.utc)
        # device ids passed the contract's identifier pattern (no quotes to escape); msg_ids are ints
        out = [(t, ack_payload(d, ts, list(self._ids[d]))) for d, t in self._pending.items() if d in self._ids]
        self._pending.clear()
        return out


def dead_letter_key(topic_: str, payload: bytes) -> tuple[str, str, str, int] | None:
    """(site, room, device, msg_id) of a dead-lettered aggregate from a well-formed device topic, if it has one."""
    try:
        t = parse_topic(topic_)
        if t["kind"] != "agg":
            return None
        d = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    m = d.get("msg_id") if isinstance(d, dict) else None
    if isinstance(m, bool) or not isinstance(m, int) or not 0 <= m <= 2**53 or d.get("device") != t["device"]:
        return None
    return t["site"], t["room"], t["device"], m
