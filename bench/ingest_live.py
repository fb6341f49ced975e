"""Live ingest benchmark: 1,000 simulated devices → real Mosquitto → aggregator (stored, deduplicated msg/s).

Baseline in the same run: a bare paho subscriber (QoS 1, auto-ack, counts only) on the same broker and
the same published stream. Publishers are raw MQTT 3.1.1 sockets on asyncio (QoS 1) in this process,
so the measured side is the subscriber. Each run starts its own broker (and throwaway store).

    python bench/ingest_live.py [--devices 1000] [--per-device 20] [--store sqlite|postgres] [--procs 1|2]

Last line: one JSON object with stored_per_s, bare_per_s and ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_broker(tmp: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    conf = tmp / "mosquitto.conf"
    lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", "persistence false",
             "max_queued_messages 0", "max_inflight_messages 1000", "log_type error"]
    if os.geteuid() == 0:
        lines.append("user root")
    conf.write_text("\n".join(lines) + "\n")
    p = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)],
                         stdout=subprocess.DEVNULL, stderr=(tmp / "mosquitto.log").open("wb"))
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return p, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("mosquitto did not start")


# ---------------------------------------------------------------- publishers (raw MQTT 3.1.1)
def _rl(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n % 128, n // 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s: bytes) -> bytes:
    return struct.pack("!H", len(s)) + s


def payloads(devices: int, per_device: int) -> list[list[tuple[bytes, bytes]]]:
    base = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=2)
    out = []
    for d in range(devices):
        dev, room = f"dev-{d:04d}", f"room-{d:04d}"
        topic = f"classpulse/v1/bench/{room}/{dev}/agg".encode()
        msgs = []
        for i in range(per_device):
            ws = base + timedelta(seconds=60 * i)
            msgs.append((topic, json.dumps({
                "schema": "classpulse.agg", "version": "1.0", "msg_id": i, "site": "bench", "room": room,
                "device": dev, "window_start": ws.isoformat(), "window_end": (ws + timedelta(seconds=60)).isoformat(),
                "policy": "no-emotion", "k_anonymity": 5, "n_faces": 24, "attention_share": 0.61,
                "pose_unknown_share": 0.05, "hand_raises": 2, "speech_share": 0.4, "speech_turns": 7,
                "teacher_talk_share": 0.6, "engagement": 0.55, "frames_processed": 60,
                "quality": []}).encode()))
        out.append(msgs)
    return out


async def _device(port: int, cid: str, msgs: list[tuple[bytes, bytes]], sem: asyncio.Semaphore) -> None:
    async with sem:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    var = _str(b"MQTT") + bytes([4, 0x02]) + struct.pack("!H", 60)
    body = var + _str(cid.encode())
    writer.write(b"\x10" + _rl(len(body)) + body)
    await reader.readexactly(4)  # CONNACK
    for pid, (topic, payload) in enumerate(msgs, 1):
        body = _str(topic) + struct.pack("!H", pid) + payload
        writer.write(b"\x32" + _rl(len(body)) + body)
    await writer.drain()
    await reader.readexactly(4 * len(msgs))  # every PUBACK: the broker has each message
    writer.write(b"\xe0\x00")
    await writer.drain()
    writer.close()


async def _publish_all(port: int, streams: list[list[tuple[bytes, bytes]]]) -> float:
    sem = asyncio.Semaphore(200)  # connect in waves; all 1,000 stay connected while publishing
    t0 = time.perf_counter()
    await asyncio.gather(*(_device(port, f"pub-{i}", m, sem) for i, m in enumerate(streams)))
    return time.perf_counter() - t0


# ---------------------------------------------------------------- subscriber roles (child processes)
def role_bare(port: int, total: int, timeout: float) -> dict:
    import paho.mqtt.client as mqtt

    state = {"n": 0, "first": None, "last": None}

    def on_message(c, u, m):  # noqa: ANN001
        now = time.perf_counter()
        if state["first"] is None:
            state["first"] = now
        state["n"] += 1
        state["last"] = now

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bare-sub", protocol=mqtt.MQTTv5)
    c.on_message = on_message
    c.connect("127.0.0.1", port)
    c.subscribe("classpulse/v1/+/+/+/agg", qos=1)
    c.loop_start()
    print("ready", flush=True)
    deadline = time.monotonic() + timeout
    while state["n"] < total and time.monotonic() < deadline:
        time.sleep(0.01)
    c.loop_stop()
    dt = (state["last"] or 0) - (state["first"] or 0)
    return {"received": state["n"], "seconds": round(dt, 3), "per_s": round(state["n"] / dt, 1) if dt else 0}


def role_agg(port: int, total: int, timeout: float, store: str, target: str, group: str | None, idx: int) -> dict:
    from cloud_aggregator.config import AggregatorConfig
    from cloud_aggregator.ingest import IngestService
    from cloud_aggregator.store import open_store

    mqtt_cfg: dict = {"port": port, "client_id": f"bench-agg-{idx}"}
    if group:
        mqtt_cfg["shared_group"] = group
    store_cfg = {"backend": "postgres", "dsn": target} if store == "postgres" else {"path": target}
    cfg = AggregatorConfig.model_validate({"mqtt": mqtt_cfg, "store": store_cfg,  # simulated devices: not enrolled
                                           "ingest": {"unregistered_devices": "accept"}})
    st = open_store(cfg.store)
    svc = IngestService(cfg, st)
    times = {"first": None, "last": None}
    orig = svc.process

    def timed(batch):  # noqa: ANN001
        if times["first"] is None:
            times["first"] = time.perf_counter()
        new = orig(batch)
        times["last"] = time.perf_counter()
        return new

    svc.process = timed
    svc.start()
    svc.connected.wait(10)
    print("ready", flush=True)
    deadline = time.monotonic() + timeout
    idle_since = time.monotonic()
    last = 0
    while time.monotonic() < deadline:
        time.sleep(0.05)
        n = svc.stats.received
        if n != last:
            last, idle_since = n, time.monotonic()
        if (n >= total) or (n and time.monotonic() - idle_since > 3.0):
            time.sleep(0.3)
            break
    svc.stop()
    st.close()
    dt = (times["last"] or 0) - (times["first"] or 0)
    s = svc.stats
    return {"received": s.received, "stored": s.stored, "duplicates": s.duplicates, "dead": s.dead_letters,
            "batches": s.batches, "seconds": round(dt, 3), "last_latency_ms": s.last_latency_ms}


# ---------------------------------------------------------------- orchestration
def _spawn(args: list[str]) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert p.stdout is not None
    line = p.stdout.readline().strip()
    if line != "ready":
        raise RuntimeError(f"subscriber did not start: {line!r}")
    return p


def _finish(p: subprocess.Popen) -> dict:
    out, _ = p.communicate(timeout=600)
    return json.loads(out.strip().splitlines()[-1])


def run(a: argparse.Namespace) -> dict:
    total = a.devices * a.per_device
    streams = payloads(a.devices, a.per_device)
    result: dict = {"devices": a.devices, "messages": total, "store": a.store, "procs": a.procs}
    with tempfile.TemporaryDirectory(prefix="cp-bench-") as td:
        tmp = Path(td)
        broker, port = start_broker(tmp)
        pg_name = None
        try:
            bare = _spawn(["--role", "bare", "--port", str(port), "--total", str(total)])
            result["publish_s"] = round(asyncio.run(_publish_all(port, streams)), 3)
            b = _finish(bare)
            result["bare"] = b
            if a.store == "postgres":
                import psycopg

                pg_name = f"classpulse_bench_{uuid.uuid4().hex[:8]}"
                with psycopg.connect(PG_ADMIN, autocommit=True) as c:
                    c.execute(f'CREATE DATABASE "{pg_name}"')
                target = f"postgresql://postgres@127.0.0.1:5432/{pg_name}"
            else:
                target = str(tmp / "agg.db")
            group = "bench" if a.procs > 1 else None
            subs = [_spawn(["--role", "agg", "--port", str(port), "--total", str(total), "--store", a.store,
                            "--target", target, "--idx", str(i)] + (["--group", group] if group else []))
                    for i in range(a.procs)]
            asyncio.run(_publish_all(port, streams))
            aggs = [_finish(p) for p in subs]
            # the stored rows are the truth: count them in the store itself
            from cloud_aggregator.config.store import StoreConfig
            from cloud_aggregator.store import open_store

            st = open_store(StoreConfig(backend=a.store, path=Path(target)) if a.store == "sqlite"
                            else StoreConfig(backend="postgres", dsn=target))
            stored_rows = st.count("aggregates")
            st.close()
            seconds = max(x["seconds"] for x in aggs)
            result.update({
                "aggregator": aggs, "stored_rows": stored_rows,
                "stored_per_s": round(stored_rows / seconds, 1) if seconds else 0.0,
                "bare_per_s": b["per_s"],
            })
            result["ratio"] = round(result["stored_per_s"] / result["bare_per_s"], 3) if b["per_s"] else None
        finally:
            broker.terminate()
            broker.wait(10)
            if pg_name:
                import psycopg

                with psycopg.connect(PG_ADMIN, autocommit=True) as c:
                    c.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--per-device", type=int, default=20)
    ap.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--role", choices=["bare", "agg"], help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--total", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--target", help=argparse.SUPPRESS)
    ap.add_argument("--group", help=argparse.SUPPRESS)
    ap.add_argument("--idx", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--timeout", type=float, default=120)
    a = ap.parse_args()
    if a.role == "bare":
        print(json.dumps(role_bare(a.port, a.total, a.timeout)), flush=True)
    elif a.role == "agg":
        print(json.dumps(role_agg(a.port, a.total, a.timeout, a.store, a.target, a.group, a.idx)), flush=True)
    else:
        print(json.dumps(run(a)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
