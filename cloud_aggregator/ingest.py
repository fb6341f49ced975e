"""MQTT ingest: validate with the wire contract, store once, dead-letter the rest, never crash.

Each message's site/room/device is also checked against the device registry (``device_registry``):
a device publishing as another room, or one never enrolled, is dead-lettered with the reason.

Acknowledgement discipline: the client runs with ``manual_ack``; a message is
PUBACKed only after the batch holding it is committed (stored or dead-lettered).
With a persistent session (``clean_session=False``) a crash before the commit
makes the broker deliver it again, and the ``(device, msg_id)`` and
``(device, window_start)`` keys turn that redelivery into a no-op. After the commit
each device also gets an end-to-end ack (``cloud_aggregator.acks``), so a broker that
loses messages (no persistence, restarted) only delays them: the device sends again.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import paho.mqtt.client as mqtt
from pydantic import BaseModel

from classpulse_contract import Aggregate, ContractError, parse_message, parse_topic
from classpulse_contract.v1 import MAX_PAYLOAD_BYTES, TOPIC_ROOT
from cloud_aggregator import device_registry
from cloud_aggregator.acks import AckBook, dead_letter_key
from cloud_aggregator.config import AggregatorConfig
from cloud_aggregator.store import DeadLetter, Store, iso_ts
from cloud_aggregator.store.devices import registered_rooms

log = logging.getLogger(__name__)
StoredCallback = Callable[[list[Aggregate]], None]


@dataclass
class IngestStats:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    last_lag_s: float | None = None  # receive time minus window end of the newest stored aggregate
    last_store_ms: float | None = None
    last_latency_ms: float | None = None  # receive -> commit of the newest stored aggregate
    max_lag_s: float | None = None  # largest receive lag of the last batch (late or replayed windows)
    batches: int = 0
    errors: int = 0
    acks_published: int = 0
    started: float = field(default_factory=time.time)


@dataclass(frozen=True)
class Incoming:
    topic: str
    payload: bytes
    mid: int
    qos: int
    received_at: str | None  # None: derived from received_ts when the batch is written
    received_ts: float


def classify(msg: Incoming, max_skew_s: float, now: datetime | None = None):
    """Pure validation of one message: returns ('agg'|'status'|'health', site, room, model) or raises ContractError."""
    return classify_full(msg, max_skew_s, now)[:4]


def classify_full(msg: Incoming, max_skew_s: float, now: datetime | None = None):
    """``classify`` plus the fields a newer-minor message carried that this reader dropped."""
    t = parse_topic(msg.topic)
    kind = t["kind"]
    if kind not in ("agg", "status", "health"):
        raise ContractError(f"devices may not publish {kind!r} messages")
    expected = {"agg": "classpulse.agg", "status": "classpulse.status", "health": "classpulse.health"}[kind]
    model: BaseModel | None = None
    ignored: list[str] = []
    if kind == "agg" and len(msg.payload) <= MAX_PAYLOAD_BYTES:
        # Fast path (about 1.7x): pydantic's own JSON parser on the strict model. It only ever ACCEPTS
        # what parse_message accepts (same model, extra=forbid, version pinned to 1.x by the model);
        # anything it refuses goes through parse_message, so reasons and newer-minor handling are the contract's.
        try:
            model = Aggregate.model_validate_json(msg.payload)
        except ValueError:
            model = None
    if model is None:
        model, ignored = parse_message(msg.payload, expected)
    if getattr(model, "device", None) != t["device"]:
        raise ContractError(f"payload device {getattr(model, 'device', None)!r} does not match topic device {t['device']!r}")
    if isinstance(model, Aggregate):
        if (model.site, model.room) != (t["site"], t["room"]):
            raise ContractError("payload site/room do not match the topic")
        now = now or datetime.now(timezone.utc)
        if model.window_end > now + timedelta(seconds=max_skew_s):
            raise ContractError(f"window ends {model.window_end.isoformat()}, in the future beyond the allowed clock skew")
    return kind, t["site"], t["room"], model, ignored


class IngestService:
    def __init__(self, cfg: AggregatorConfig, store: Store):
        self.cfg = cfg
        self.store = store
        self.stats = IngestStats()
        self._q: queue.Queue[Incoming] = queue.Queue(maxsize=100_000)
        self._subs: list[StoredCallback] = []
        #: optional aggregate -> (section_id, session_id); see cloud_aggregator.timetable.SessionResolver
        self.resolve_session: Callable[[Aggregate], tuple[str | None, str | None]] | None = None
        self._stop = threading.Event()
        self._writer: threading.Thread | None = None
        self.acks = AckBook(flush_s=cfg.ingest.ack_flush_ms / 1000)
        self.connected = threading.Event()
        m = cfg.mqtt
        self.v5 = m.protocol == "5"
        if self.v5:  # clean_start=False + a session expiry below keep the session (and unacked messages)
            self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=m.client_id,
                                      protocol=mqtt.MQTTv5, manual_ack=True)
        else:
            self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=m.client_id,
                                      clean_session=not m.persistent_session, protocol=mqtt.MQTTv311, manual_ack=True)
        if m.username:
            pw = m.password_file.read_text(encoding="utf-8").strip() if m.password_file else None
            self.client.username_pw_set(m.username, pw)
        if m.tls is not None:
            self.client.tls_set(ca_certs=str(m.tls.ca_file), certfile=str(m.tls.cert_file) if m.tls.cert_file else None,
                                keyfile=str(m.tls.key_file) if m.tls.key_file else None)
        self.client.max_inflight_messages_set(m.receive_maximum)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(1, 8)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = lambda *a, **k: self.connected.clear()
        self.client.on_message = self._on_message

    def on_stored(self, cb: StoredCallback) -> None:
        """Alias of ``subscribe_stored``."""
        self.subscribe_stored(cb)

    def subscribe_stored(self, cb: StoredCallback) -> None:
        """``cb`` runs on the writer thread after each commit with the newly stored aggregates."""
        self._subs.append(cb)

    def topics(self) -> list[str]:
        prefix = f"$share/{self.cfg.mqtt.shared_group}/" if self.cfg.mqtt.shared_group else ""
        return [f"{prefix}{TOPIC_ROOT}/+/+/+/{k}" for k in ("agg", "status", "health")]

    def _on_connect(self, client, userdata, flags, reason_code, properties=None) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            log.error("broker refused the aggregator: %s", reason_code)
            return
        client.subscribe([(t, 1) for t in self.topics()])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties=None) -> None:  # noqa: ANN001
        # ``connected`` means subscribed (the broker's SUBACK), so nothing published after it can be missed
        refused = [str(rc) for rc in reason_codes if rc.is_failure]
        if refused:
            log.error("broker refused subscriptions: %s", ", ".join(refused))
        self.connected.set()
        log.info("ingest connected; subscribed to %s", ", ".join(self.topics()))

    def _on_message(self, client, userdata, msg) -> None:  # noqa: ANN001
        # the network thread does as little as possible: formatting waits for the writer
        self._q.put(Incoming(msg.topic, bytes(msg.payload), msg.mid, msg.qos, None, time.time()))

    def start(self) -> None:
        self._writer = threading.Thread(target=self._write_loop, name="ingest-writer", daemon=True)
        self._writer.start()
        m = self.cfg.mqtt
        if self.v5:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = m.session_expiry_s if m.persistent_session else 0
            # how many unacked messages the broker may push; must exceed batch_size or batches wait for flush_ms
            props.ReceiveMaximum = m.receive_maximum
            self.client.connect_async(m.host, m.port, keepalive=m.keepalive_s, clean_start=not m.persistent_session,
                                      properties=props)
        else:
            self.client.connect_async(m.host, m.port, keepalive=m.keepalive_s)
        self.client.loop_start()

    def stop(self) -> None:
        self._stop.set()
        if self._writer is not None:
            self._writer.join(timeout=10)
        self.flush_acks(force=True)
        self.client.disconnect()
        self.client.loop_stop()

    def _batch(self) -> list[Incoming]:
        try:
            first = self._q.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.cfg.ingest.flush_ms / 1000
        idle = self.cfg.ingest.idle_flush_ms / 1000
        while len(batch) < self.cfg.ingest.batch_size:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                # a short gap means the stream paused (or the broker's in-flight window is full: it waits for
                # our acks), so waiting the whole flush_ms would only add latency
                batch.append(self._q.get(timeout=min(left, idle)))
            except queue.Empty:
                break
        return batch

    def process(self, batch: list[Incoming]) -> list[Aggregate]:
        """Store one batch in one transaction (committed before return). Never raises for bad input."""
        aggs: list[tuple[Aggregate, str]] = []
        raw: list[bytes | None] = []
        recv: list[float] = []
        dead: list[DeadLetter] = []
        statuses, healths = [], []
        now = datetime.now(timezone.utc)
        registered = registered_rooms(self.store, (device_registry.topic_device(m.topic) for m in batch))
        for m in batch:
            self.stats.received += 1
            received_at = m.received_at or iso_ts(m.received_ts)
            try:
                kind, site, room, model, ignored = classify_full(m, self.cfg.ingest.max_clock_skew_s, now)
                problem = device_registry.identity_problem(model.device, site, room, registered,
                                                           self.cfg.ingest.unregistered_devices)
                if problem:
                    raise ContractError(problem)
            except ContractError as e:
                dead.append(DeadLetter(m.topic, m.payload, e.reason, received_at))
                continue
            except Exception as e:  # noqa: BLE001 - a parser bug must cost one message, not the process
                dead.append(DeadLetter(m.topic, m.payload, f"internal error while validating: {type(e).__name__}",
                                       received_at))
                continue
            if kind == "agg":
                aggs.append((model, received_at))
                raw.append(None if ignored else m.payload)  # keep the validated bytes unless fields were dropped
                recv.append(m.received_ts)
            elif kind == "status":
                statuses.append((site, room, model))
            else:
                healths.append((site, room, model))
        committed = [(a.site, a.room, a.device, a.msg_id) for a, _ in aggs]
        committed += [k for d in dead if (k := dead_letter_key(d.topic, d.payload)) is not None]
        sessions = None
        if self.resolve_session is not None and aggs:
            sessions = [self.resolve_session(a) for a, _ in aggs]
        t0 = time.perf_counter()
        conflicts_before = self.store.window_conflicts
        new = self.store.write_batch(aggs, dead, statuses, healths, sessions, raw)
        conflicts = self.store.window_conflicts - conflicts_before
        t1 = time.time()
        self.stats.last_store_ms = round((time.perf_counter() - t0) * 1000, 2)
        self.stats.batches += 1
        self.stats.dead_letters += len(dead) + conflicts
        self.stats.stored += len(new)
        self.stats.duplicates += len(aggs) - len(new) - conflicts
        if aggs:
            lags = [r - a.window_end.timestamp() for (a, _), r in zip(aggs, recv, strict=True)]
            self.stats.last_lag_s = round(lags[-1], 3)
            self.stats.max_lag_s = round(max(lags), 3)
            self.stats.last_latency_ms = round((t1 - recv[-1]) * 1000, 2)
        self._publish_acks(committed)
        return new

    def _publish_acks(self, committed: list[tuple[str, str, str, int]]) -> None:
        """After the commit only. Not connected: no ack, and the device's timeout sends the window again."""
        if not self.cfg.ingest.end_to_end_acks:
            return
        self.acks.record(committed)
        self.flush_acks()

    def flush_acks(self, force: bool = False) -> None:
        if not self.connected.is_set():
            return
        for t, body in self.acks.due(time.monotonic(), force):
            self.client.publish(t, body, qos=0, retain=True)
            self.stats.acks_published += 1

    def _process_until_stored(self, batch: list[Incoming]) -> list[Aggregate] | None:
        """Store failures are the database's (bad input never raises): keep the batch, reconnect, retry with
        backoff, so a PostgreSQL outage delays ingest and loses nothing. None if stopped meanwhile."""
        delay = 0.5
        while True:
            try:
                return self.process(batch)
            except Exception:  # noqa: BLE001 - a store failure must not kill ingest
                self.stats.errors += 1
                self.stats.received -= len(batch)  # counted again by the retry
                (log.exception if delay == 0.5 else log.error)(  # the traceback once per outage
                    "store failed; %d messages held unacknowledged, retrying in %.1f s", len(batch), delay)
                if self._stop.wait(delay):
                    return None
                delay = min(delay * 2, 8.0)
                reconnect = getattr(self.store, "reconnect", None)
                if reconnect is not None:
                    try:
                        reconnect()
                    except Exception as e:  # noqa: BLE001 - still down: the next round tries again
                        log.warning("store still unreachable: %s", e)

    def _write_loop(self) -> None:
        while not self._stop.is_set() or not self._q.empty():
            batch = self._batch()
            if not batch:
                self.flush_acks()  # acks recorded during a burst go out once it pauses
                continue
            new = self._process_until_stored(batch)
            if new is None:
                continue  # stopping with the store down: unacked, so the broker or the devices send them again
            for m in batch:
                if m.qos > 0:
                    self.client.ack(m.mid, m.qos)
            for cb in self._subs:
                try:
                    cb(new)
                except Exception:  # noqa: BLE001 - a slow or broken listener must not stop ingest
                    log.exception("stored-listener failed")


def run_ingest(cfg: AggregatorConfig, stop: threading.Event | None = None) -> int:
    """Ingest only (no web server), until SIGTERM/SIGINT or ``stop``; for extra worker processes of a
    shared subscription and for fault tests. Stats are logged every 30 s."""
    import signal

    from cloud_aggregator.store import open_store
    from cloud_aggregator.timetable import SessionResolver

    stop = stop or threading.Event()
    store = open_store(cfg.store)
    svc = IngestService(cfg, store)
    svc.resolve_session = SessionResolver(store)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
    svc.start()
    try:
        while not stop.wait(30):
            log.info("ingest %s", svc.stats.__dict__)
    finally:
        svc.stop()
        store.close()
        log.info("ingest final %s", json.dumps(svc.stats.__dict__))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m cloud_aggregator.ingest --config FILE``: one ingest worker."""
    import argparse
    import sys

    from classpulse_contract.config_io import ConfigError
    from cloud_aggregator.config import load_aggregator_config

    ap = argparse.ArgumentParser(prog="python -m cloud_aggregator.ingest", description=main.__doc__)
    ap.add_argument("--config")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_aggregator_config(a.config)
    except ConfigError as e:
        print("\n".join([f"{e.source}:", *(f"  {p}" for p in e.problems)]), file=sys.stderr)
        return 2
    return run_ingest(cfg)


if __name__ == "__main__":
    raise SystemExit(main())
