"""Subprocess driver for fault tests: submit aggregates through a real Publisher, print each committed id.

    python tests/_ops_driver.py PORT OUTBOX_DB START COUNT INTERVAL_S
COUNT=0 only drains what the outbox holds (the "restarted agent") and exits when it is empty.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from classpulse_contract.v1 import Aggregate  # noqa: E402
from edge_agent.config import AgentConfig  # noqa: E402
from edge_agent.mqtt_session import Publisher  # noqa: E402

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def main() -> int:
    port, db, start, count, interval = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    cfg = AgentConfig.model_validate({
        "device": {"id": "d1", "site": "s1", "room": "r1"},
        "mqtt": {"host": "127.0.0.1", "port": port, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5},
        "outbox": {"path": db, "max_messages": 100_000},
    })
    p = Publisher(cfg)
    p.start()
    for i in range(start, start + count):
        p.submit(Aggregate(msg_id=i, site="s1", room="r1", device="d1", window_start=T0 + timedelta(minutes=i),
                           window_end=T0 + timedelta(minutes=i + 1), policy="no-emotion", k_anonymity=5, n_faces=3))
        print(f"committed {i}", flush=True)
        time.sleep(interval)
    end = time.monotonic() + 30
    while p.outbox.depth() and time.monotonic() < end:
        time.sleep(0.05)
    print(f"drained depth={p.outbox.depth()}", flush=True)
    p.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
