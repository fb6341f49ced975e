"""End-to-end acknowledgement (contract 1.2): after a commit, tell each device which msg_ids are safe.

Published retained at QoS 1 on ``classpulse/v1/<site>/<room>/<device>/ack``, a topic only that
device may read. The list holds the device's most recent committed msg_ids — stored, a
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

from classpulse_contract import Ack, dumps, parse_topic, topic
from classpulse_contract.v1 import MAX_ACK_IDS

#: Devices whose lists are kept in memory (least recently acked forgotten first).
MAX_DEVICES = 50_000


class AckBook:
    """Per-device recent committed msg_ids; ``record`` returns the (topic, payload) acks to publish now."""

    def __init__(self, max_ids: int = MAX_ACK_IDS, max_devices: int = MAX_DEVICES):
        self.max_ids = max_ids
        self.max_devices = max_devices
        self._ids: OrderedDict[str, deque[int]] = OrderedDict()

    def record(self, committed: Iterable[tuple[str, str, str, int]]) -> list[tuple[str, bytes]]:
        """``committed``: (site, room, device, msg_id) of one committed batch."""
        touched: dict[str, str] = {}
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
            touched[device] = topic(site, room, device, "ack")
        now = datetime.now(timezone.utc)
        return [(t, dumps(Ack(device=d, ts=now, msg_ids=list(self._ids[d])))) for d, t in touched.items()]


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
