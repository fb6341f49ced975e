"""Benchmark: what the device-registry check costs ingest (``IngestService.process``, no broker).

Run: OMP_NUM_THREADS=1 python bench/registry_check.py [--devices 1000] [--batches 40] [--backend sqlite|postgres]
Prints one JSON object on its last line.

Method: a store with ``--devices`` enrolled devices; batches of 500 valid aggregates from them (each batch
new msg_ids, so every row is stored). Interleaved in the same run, batch by batch: ``process()`` as ingest runs
it (contract validation + registry lookup + one-transaction write), and the registry lookup alone on the same
batch. Reported: the lookup's share of ``process()`` time (a ratio: the machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from classpulse_contract import Aggregate, dumps, topic  # noqa: E402
from cloud_aggregator import device_registry  # noqa: E402
from cloud_aggregator.config import AggregatorConfig  # noqa: E402
from cloud_aggregator.ingest import Incoming, IngestService  # noqa: E402
from cloud_aggregator.store import open_store  # noqa: E402
from cloud_aggregator.store.devices import registered_rooms  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from ingest import pg_create, pg_drop  # noqa: E402  (the ingest bench's throwaway PostgreSQL database)

BATCH = 500


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-registry-"))
    pg = pg_create() if a.backend == "postgres" else None  # a throwaway database, dropped at the end
    store_cfg = ({"backend": "postgres", "dsn": f"postgresql://postgres@127.0.0.1:5432/{pg}"}
                 if pg else {"path": str(tmp / "agg.db")})
    cfg = AggregatorConfig.model_validate({"store": store_cfg})
    store = open_store(cfg.store)
    run = uuid.uuid4().hex[:6]  # device names unique per run
    devices = [(f"b{run}-d{i}", f"s{i % 10}", f"r{i}") for i in range(a.devices)]
    for d, s, r in devices:
        store.upsert_device(d, s, r)
    svc = IngestService(cfg, store)
    t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)
    proc_s = look_s = 0.0
    stored = 0
    for b in range(a.batches):
        batch = []
        for j in range(BATCH):
            d, s, r = devices[(b * BATCH + j) % len(devices)]
            ag = Aggregate(msg_id=b * BATCH + j, site=s, room=r, device=d, window_start=t0 + timedelta(seconds=b),
                           window_end=t0 + timedelta(seconds=b + 60), policy="no-emotion", k_anonymity=5,
                           n_faces=20, attention_share=0.5)
            batch.append(Incoming(topic(s, r, d, "agg"), dumps(ag), j, 1, None, time.time()))
        x = time.perf_counter()
        stored += len(svc.process(batch))
        y = time.perf_counter()
        registered_rooms(store, (device_registry.topic_device(m.topic) for m in batch))
        z = time.perf_counter()
        proc_s, look_s = proc_s + (y - x), look_s + (z - y)
    store.close()
    if pg:
        pg_drop(pg)
    n = a.batches * BATCH
    print(json.dumps({"bench": "registry_check", "backend": a.backend, "devices": a.devices, "messages": n,
                      "stored": stored, "dead_letters": svc.stats.dead_letters, "correct": stored == n,
                      "process_per_s": round(n / proc_s), "lookup_share_of_process": round(look_s / proc_s, 4),
                      "loadavg_1m": round(os.getloadavg()[0], 2)}))
    return 0 if stored == n else 1


if __name__ == "__main__":
    raise SystemExit(main())
