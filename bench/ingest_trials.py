"""Ingest trials for issue #21 (not product code): what bounds IngestService against a bare subscriber.

Run: OMP_NUM_THREADS=1 python bench/ingest_trials.py --mode real|noop|pool [--repeat 2] [--batch 500]

Same workload, broker and rate definition as bench/ingest.py (SQLite store); each repeat runs the bare
subscriber and then the variant, so every line is one same-sitting ratio.
* ``real``: IngestService as shipped.
* ``noop``: ``process()`` only counts (nothing validated or stored; PUBACK after the "batch" as usual): the
  ceiling the receive thread + queue + manual acks leave for validation and storage.
* ``pool``: ``process()`` runs in one forked child with its own store connection, fed raw bytes; the parent
  only receives, ships the batch, unpickles the new aggregates and acks (a prototype of "validation off the GIL").
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import pickle
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ingest as bench  # noqa: E402 - bench/ingest.py, which puts the repo root on sys.path

from cloud_aggregator.config.store import StoreConfig  # noqa: E402
from cloud_aggregator.ingest import Incoming, IngestService  # noqa: E402
from cloud_aggregator.store import open_store  # noqa: E402

_REAL_PROCESS = IngestService.process


def _noop(self: IngestService, batch: list[Incoming]) -> list:
    self.stats.received += len(batch)
    self.stats.stored += len(batch)
    return []


def _child(conn, cfg) -> None:  # noqa: ANN001
    store = open_store(cfg.store)
    svc = IngestService(cfg, store)
    while (msg := conn.recv_bytes()) != b"stop":
        batch = [Incoming(t, p, 0, 1, None, ts) for t, p, ts in pickle.loads(msg)]
        dup, dead = svc.stats.duplicates, svc.stats.dead_letters
        new = _REAL_PROCESS(svc, batch)
        conn.send_bytes(pickle.dumps((new, svc.stats.duplicates - dup, svc.stats.dead_letters - dead), protocol=5))
    store.close()


def _pool(self: IngestService, batch: list[Incoming]) -> list:
    if not hasattr(self, "_trial_conn"):
        ctx = mp.get_context("fork")
        self._trial_conn, theirs = ctx.Pipe()
        ctx.Process(target=_child, args=(theirs, self.cfg), daemon=True).start()
    self._trial_conn.send_bytes(pickle.dumps([(m.topic, m.payload, m.received_ts) for m in batch], protocol=5))
    new, dup, dead = pickle.loads(self._trial_conn.recv_bytes())
    self.stats.received += len(batch)
    self.stats.stored += len(new)
    self.stats.duplicates += dup
    self.stats.dead_letters += dead
    return new


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", choices=("real", "noop", "pool"), default="real")
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--batch", type=int, default=500, help="ingest.batch_size (the bench's default is 500)")
    a = ap.parse_args()
    IngestService.process = {"real": _REAL_PROCESS, "noop": _noop, "pool": _pool}[a.mode]  # type: ignore[method-assign]
    make_cfg = bench._ingest_cfg

    def cfg_with_batch(*args, **kw):  # noqa: ANN002, ANN003, ANN202
        c = make_cfg(*args, **kw)
        c.ingest.batch_size = a.batch
        return c

    bench._ingest_cfg = cfg_with_batch
    items, unique = bench.make_messages(1000, a.messages)
    with tempfile.TemporaryDirectory() as tmp:
        broker = bench.start_mosquitto(Path(tmp) / "broker", extra=bench.BROKER_LIMITS, persistence=False)
        try:
            for k in range(a.repeat):
                bare = bench.run_one(broker, items, unique, 3, "bare", None, 120)
                r = bench.run_one(broker, items, unique, 3, "ingest", StoreConfig(path=Path(tmp) / f"t{k}.db"), 120)
                ok = "" if a.mode == "noop" else f" correct={r['correct']}"
                print(f"{a.mode} batch={a.batch}: bare {bare['per_s']}/s, ingest {r['per_s']}/s, "
                      f"ratio {r['per_s'] / bare['per_s']:.3f}{ok}", flush=True)
        finally:
            broker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
