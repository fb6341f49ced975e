"""Helpers for the cloud ingest/store tests: valid aggregates and payloads."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from classpulse_contract import Aggregate

#: Config for tests of ingest mechanics on a permissive test broker with no enrolment: devices not in the
#: registry are stored (the deployed default dead-letters them; tests/test_security_broker.py covers that).
ACCEPT_UNREGISTERED = {"ingest": {"unregistered_devices": "accept"}}
BASE = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=3)


def make_agg(msg_id: int = 1, device: str = "d1", site: str = "s1", room: str = "r1",
             start: datetime | None = None, **over) -> Aggregate:
    ws = start or (BASE + timedelta(seconds=msg_id))  # overlapping windows are fine; stays in the past
    d = dict(msg_id=msg_id, site=site, room=room, device=device, window_start=ws,
             window_end=ws + timedelta(seconds=60), policy="no-emotion", k_anonymity=5, n_faces=20,
             attention_share=0.6, speech_share=0.3, engagement=0.5, hand_raises=1)
    d.update(over)
    return Aggregate(**d)


def payload(msg_id: int = 1, **over) -> bytes:
    a = make_agg(msg_id)
    d = json.loads(a.model_dump_json(by_alias=True))
    d.update(over)
    return json.dumps(d).encode()
