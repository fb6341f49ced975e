"""A real agent-side process for fault tests: submits aggregates through the outbox + Publisher.

Usage: python -m tests._publish_driver CONFIG.yaml FIRST COUNT INTERVAL_S
Prints ``committed <msg_id>`` once each aggregate is durable in the outbox, then drains and exits.
Window starts are spaced by the config's window_s (agent time compressed into INTERVAL_S).
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timedelta, timezone

from classpulse_contract import Aggregate
from edge_agent.config import load_agent_config
from edge_agent.mqtt_session import Publisher


def main() -> int:
    cfg = load_agent_config(sys.argv[1])
    first, count, interval = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    pub = Publisher(cfg)
    pub.start()
    base = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
    for i in range(first, first + count):
        start = base + timedelta(seconds=cfg.window_s * i)
        a = Aggregate(msg_id=int(start.timestamp()), site=cfg.device.site, room=cfg.device.room,
                      device=cfg.device.id, window_start=start, window_end=start + timedelta(seconds=cfg.window_s),
                      policy="no-emotion", k_anonymity=cfg.k_anonymity, n_faces=20, attention_share=0.5,
                      speech_share=0.3, engagement=0.5)
        pub.submit(a)
        print(f"committed {a.msg_id}", flush=True)
        time.sleep(interval)
    ok = pub.flush(timeout=float(sys.argv[5]) if len(sys.argv) > 5 else 60)
    pub.stop()
    print("drained" if ok else "not drained", flush=True)
    return 0 if ok else 3


if __name__ == "__main__":
    sys.exit(main())
