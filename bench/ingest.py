"""Benchmark: aggregator ingest throughput (MQTT -> validate -> dedup -> store) against a bare paho subscriber.

Run: OMP_NUM_THREADS=1 python bench/ingest.py [--devices 1000] [--messages 20000]
                                             [--backend sqlite|postgres|both] [--processes 1|2]
Prints one JSON object on its last line.

Method (same for every consumer, so the ratios compare across machines):
1. A private mosquitto (tests/_broker.py, in-memory, inflight/queue limits raised) is started.
2. The consumer's persistent session is created (subscribe at QoS 1, disconnect), then 2-4 publisher
   processes publish the pre-serialised aggregates of ``--devices`` simulated devices at QoS 1
   (plus ~2 % re-sends of the same (device, msg_id), as at-least-once delivery produces), and the
   broker queues them for the offline session.
3. The consumer reconnects and drains the queue; the rate is messages / (first receive -> last commit).
   Draining a queue measures the consumer alone: the publishers are done and do not compete for CPU.
The bare consumer is a paho client that only counts (QoS 1, auto-ack). The aggregator is
``IngestService`` (manual ack after commit), checked to store exactly the unique messages.
With ``--processes 2`` two aggregator processes share the load via ``$share/<group>/`` on PostgreSQL.
The aggregator publishes its end-to-end acks (contract 1.2) as in production; ``--acks-off-too`` also
runs SQLite with ``ingest.end_to_end_acks: false`` in the same sitting, to show what the acks cost.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402

from classpulse_contract import Aggregate, dumps, topic  # noqa: E402
from cloud_aggregator.config import AggregatorConfig  # noqa: E402
from cloud_aggregator.config.broker import MqttConfig  # noqa: E402
from cloud_aggregator.config.ingest import IngestConfig  # noqa: E402
from cloud_aggregator.config.store import StoreConfig  # noqa: E402
from cloud_aggregator.ingest import IngestService  # noqa: E402
from cloud_aggregator.store import Store, open_store  # noqa: E402
from tests._broker import Broker, start_mosquitto  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
AGG_FILTER = "classpulse/v1/+/+/+/agg"
#: mosquitto defaults (20 in flight, 1000 queued per client) would throttle a bulk consumer, not measure it.
BROKER_LIMITS = "max_inflight_messages 1000\nmax_queued_messages 0\nmax_queued_bytes 0\n"
DUP_EVERY = 50  # every 50th message is sent twice (2 %)


# --------------------------------------------------------------------------- workload
def make_messages(devices: int, messages: int) -> tuple[list[tuple[str, bytes]], int]:
    """Valid aggregates round-robin over the devices; returns (topic, payload) list incl. re-sends, unique count."""
    per_dev = -(-messages // devices)
    base = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=per_dev + 10)
    out: list[tuple[str, bytes]] = []
    for i in range(messages):
        d, n = i % devices, i // devices
        dev, site, room = f"dev{d:05d}", f"site{d // 100:03d}", f"room{d:05d}"
        ws = base + timedelta(minutes=n)
        a = Aggregate(msg_id=n + 1, site=site, room=room, device=dev, window_start=ws,
                      window_end=ws + timedelta(seconds=60), policy="no-emotion", k_anonymity=5,
                      n_faces=18 + d % 12, attention_share=round(0.4 + (i % 50) / 100, 2),
                      speech_share=0.3, speech_turns=4, hand_raises=i % 3, engagement=0.55,
                      frames_processed=240, model_versions={"pose": "1.0"})
        item = (topic(site, room, dev, "agg"), dumps(a))
        out.append(item)
        if i % DUP_EVERY == DUP_EVERY - 1:
            out.append(item)
    return out, messages


def _publisher(port: int, items: list[tuple[str, bytes]], ready) -> None:  # noqa: ANN001
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:8]}",
                    protocol=mqtt.MQTTv311)
    c.max_inflight_messages_set(500)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", port)
    c.loop_start()
    infos = [c.publish(t, p, qos=1) for t, p in items]
    for info in infos:
        info.wait_for_publish(timeout=120)
    c.disconnect()
    c.loop_stop()
    ready.put(len(infos))


def publish_all(port: int, items: list[tuple[str, bytes]], publishers: int) -> float:
    """Publish in ``publishers`` processes; each device's messages stay in one process (in order)."""
    ctx = mp.get_context("fork")
    done = ctx.Queue()
    chunks: dict[int, list] = {k: [] for k in range(publishers)}
    for t, p in items:
        chunks[hash(t.split("/")[4]) % publishers].append((t, p))
    t0 = time.perf_counter()
    procs = [ctx.Process(target=_publisher, args=(port, chunks[k], done)) for k in range(publishers)]
    for p in procs:
        p.start()
    sent = sum(done.get(timeout=300) for _ in procs)
    for p in procs:
        p.join()
    assert sent == len(items), (sent, len(items))
    return time.perf_counter() - t0


def create_session(port: int, client_id: str, filters: list[str]) -> None:
    """Register a persistent QoS 1 session so the broker queues everything published while it is offline."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                    protocol=mqtt.MQTTv311)
    subscribed = threading.Event()
    c.on_subscribe = lambda *a, **k: subscribed.set()
    c.connect("127.0.0.1", port)
    c.loop_start()
    c.subscribe([(f, 1) for f in filters])
    assert subscribed.wait(10), "subscribe not acknowledged"
    c.disconnect()
    c.loop_stop()


# --------------------------------------------------------------------------- consumers
def bare_drain(port: int, expected: int, timeout: float) -> dict:
    """A paho subscriber that only counts: the ceiling for any Python consumer on this machine."""
    n = 0
    first = last = 0.0
    done = threading.Event()

    def on_message(client, userdata, msg) -> None:  # noqa: ANN001
        nonlocal n, first, last
        last = time.perf_counter()
        if n == 0:
            first = last
        n += 1
        if n >= expected:
            done.set()

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-bare", clean_session=False,
                    protocol=mqtt.MQTTv311)
    c.max_inflight_messages_set(1000)
    c.on_message = on_message
    c.connect("127.0.0.1", port)
    c.loop_start()
    done.wait(timeout)
    c.disconnect()
    c.loop_stop()
    assert n >= expected, f"bare subscriber got {n}/{expected}"
    dt = last - first
    return {"received": n, "seconds": round(dt, 3), "per_s": round(n / dt)}


def _ingest_cfg(port: int, store: StoreConfig, client_id: str, group: str | None,
                acks: bool = True) -> AggregatorConfig:
    return AggregatorConfig(mqtt=MqttConfig(port=port, client_id=client_id, shared_group=group), store=store,
                            ingest=IngestConfig(batch_size=500, flush_ms=50, end_to_end_acks=acks,
                                                unregistered_devices="accept"))  # simulated devices: not enrolled


def ingest_drain(cfg: AggregatorConfig, expected: int | None, timeout: float, result=None) -> dict:  # noqa: ANN001
    """Run one IngestService until ``expected`` messages are committed (or the queue goes quiet)."""
    store = open_store(cfg.store)
    svc = IngestService(cfg, store)
    t = {"first": 0.0, "last": 0.0}
    inner = svc.client.on_message

    def on_message(client, userdata, msg) -> None:  # noqa: ANN001
        if not t["first"]:
            t["first"] = time.time()
        inner(client, userdata, msg)

    svc.client.on_message = on_message
    svc.subscribe_stored(lambda new: t.__setitem__("last", time.time()))
    svc.start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = svc.stats
        if expected is not None and s.received >= expected and s.stored + s.duplicates + s.dead_letters >= expected:
            break
        if expected is None:  # shared subscription: we do not know our share; stop after 3 s of silence
            if t["first"] and svc._q.empty() and time.time() - max(t["last"], t["first"]) > 3:
                break
        time.sleep(0.02)
    svc.stop()
    s = svc.stats
    stored_rows = store.count("aggregates")
    store.close()
    out = {"received": s.received, "stored": s.stored, "duplicates": s.duplicates, "dead_letters": s.dead_letters,
           "errors": s.errors, "rows": stored_rows, "first": t["first"], "last": t["last"]}
    if result is not None:
        result.put(out)
    return out


def _rate(r: dict) -> dict:
    dt = r["last"] - r["first"]
    return {**{k: v for k, v in r.items() if k not in ("first", "last")}, "seconds": round(dt, 3),
            "per_s": round(r["received"] / dt)}


def pg_create() -> str:
    import psycopg

    name = f"ingest_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return name


def pg_drop(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --------------------------------------------------------------------------- main
def run_one(broker: Broker, items, unique: int, publishers: int, consumer: str, store_cfg: StoreConfig | None,
            timeout: float, acks: bool = True) -> dict:
    total = len(items)
    if consumer == "bare":
        create_session(broker.port, "bench-bare", [AGG_FILTER])
        pub_s = publish_all(broker.port, items, publishers)
        r = bare_drain(broker.port, total, timeout)
        return {**r, "publish_s": round(pub_s, 2)}
    cid = f"bench-agg-{uuid.uuid4().hex[:6]}"
    cfg = _ingest_cfg(broker.port, store_cfg, cid, None, acks)
    create_session(broker.port, cid, IngestService(cfg, Store.__new__(Store)).topics())
    pub_s = publish_all(broker.port, items, publishers)
    r = _rate(ingest_drain(cfg, total, timeout))
    r["publish_s"] = round(pub_s, 2)
    r["correct"] = r["rows"] == unique and r["stored"] == unique and r["dead_letters"] == 0 and r["errors"] == 0
    return r


def run_shared(broker: Broker, items, unique: int, publishers: int, dsn: str, procs: int, timeout: float) -> dict:
    """``procs`` aggregator processes on one PostgreSQL database, splitting a $share subscription."""
    group = "bench"
    cfgs = [_ingest_cfg(broker.port, StoreConfig(backend="postgres", dsn=dsn), f"bench-shared-{k}", group)
            for k in range(procs)]
    for cfg in cfgs:
        create_session(broker.port, cfg.mqtt.client_id, IngestService(cfg, Store.__new__(Store)).topics())
    # Create the schema once first: two processes running CREATE TABLE IF NOT EXISTS at the same moment
    # race in PostgreSQL (pg_type unique violation), so a fleet must migrate before it scales out.
    open_store(cfgs[0].store).close()
    pub_s = publish_all(broker.port, items, publishers)
    ctx = mp.get_context("fork")
    res = ctx.Queue()
    ps = [ctx.Process(target=ingest_drain, args=(cfg, None, timeout, res)) for cfg in cfgs]
    for p in ps:
        p.start()
    parts = [res.get(timeout=timeout + 30) for _ in ps]
    for p in ps:
        p.join()
    first = min(p["first"] for p in parts if p["first"])
    last = max(p["last"] for p in parts)
    received = sum(p["received"] for p in parts)
    stored = sum(p["stored"] for p in parts)
    rows = max(p["rows"] for p in parts)  # same database, counted as each process stopped
    dt = last - first  # ``last`` is the last commit; the 3 s silence detector is not counted
    return {"processes": procs, "received": received, "per_process_received": [p["received"] for p in parts],
            "stored": stored, "rows": rows, "seconds": round(dt, 3), "per_s": round(received / dt),
            "publish_s": round(pub_s, 2),
            "correct": rows == unique and stored == unique and received >= len(items)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--messages", type=int, default=20000, help="unique aggregates (plus 2 %% re-sends)")
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--processes", type=int, choices=(1, 2), default=1,
                    help="2 also runs two aggregator processes on a $share subscription (PostgreSQL)")
    ap.add_argument("--publishers", type=int, default=3, choices=(2, 3, 4))
    ap.add_argument("--timeout", type=float, default=120.0, help="per consumer")
    ap.add_argument("--acks-off-too", action="store_true", help="also SQLite without end-to-end acks")
    args = ap.parse_args()

    t_start = time.perf_counter()
    items, unique = make_messages(args.devices, args.messages)
    out: dict[str, object] = {
        "bench": "ingest", "devices": args.devices, "unique_messages": unique, "published": len(items),
        "publishers": args.publishers, "payload_bytes_avg": round(sum(len(p) for _, p in items) / len(items)),
        "cpus": os.cpu_count(), "loadavg_1m": round(os.getloadavg()[0], 2)}
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory() as tmp:
        broker = start_mosquitto(Path(tmp) / "broker", extra=BROKER_LIMITS, persistence=False)
        try:
            bare = run_one(broker, items, unique, args.publishers, "bare", None, args.timeout)
            out["bare"] = bare
            out["bare_per_s"] = bare["per_s"]
            print(f"bare: {bare}", file=sys.stderr)
            for be in backends:
                if be == "sqlite":
                    r = run_one(broker, items, unique, args.publishers, "ingest",
                                StoreConfig(path=Path(tmp) / "agg.db"), args.timeout)
                else:
                    name = pg_create()
                    try:
                        r = run_one(broker, items, unique, args.publishers, "ingest",
                                    StoreConfig(backend="postgres", dsn=f"postgresql://postgres@127.0.0.1:5432/{name}"),
                                    args.timeout)
                    finally:
                        pg_drop(name)
                r["ratio_to_bare"] = round(r["per_s"] / bare["per_s"], 3)
                out[be] = r
                print(f"{be}: {r}", file=sys.stderr)
            if args.acks_off_too:
                r = run_one(broker, items, unique, args.publishers, "ingest",
                            StoreConfig(path=Path(tmp) / "agg-noack.db"), args.timeout, acks=False)
                r["ratio_to_bare"] = round(r["per_s"] / bare["per_s"], 3)
                out["sqlite_acks_off"] = r
                print(f"sqlite_acks_off: {r}", file=sys.stderr)
            if args.processes == 2:
                name = pg_create()
                try:
                    r = run_shared(broker, items, unique, args.publishers,
                                   f"postgresql://postgres@127.0.0.1:5432/{name}", 2, args.timeout)
                finally:
                    pg_drop(name)
                r["ratio_to_bare"] = round(r["per_s"] / bare["per_s"], 3)
                out["postgres_shared_2proc"] = r
        finally:
            broker.stop()
    first = backends[0]
    out["stored_per_s"] = out[first]["per_s"]  # type: ignore[index]
    out["stored_backend"] = first
    out["ratio_to_bare"] = out[first]["ratio_to_bare"]  # type: ignore[index]
    out["correct"] = all(out[b]["correct"] for b in backends)  # type: ignore[index]
    out["total_s"] = round(time.perf_counter() - t_start, 1)
    print(json.dumps(out))
    return 0 if out["correct"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
