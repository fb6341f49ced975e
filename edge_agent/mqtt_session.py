"""MQTT session of one device: outbox draining at QoS 1, retained status with last will, health, commands.

Limits, said plainly (as paho-mqtt's own docs do):
* Delivery is at-least-once, end to end once the aggregator acks (contract 1.2, see
  ``edge_agent.delivery``): a row leaves the outbox only when the aggregator lists its
  msg_id as committed; unconfirmed rows go again after a reconnect or a timeout. The
  aggregator stores each device and window once, so the store sees it exactly once.
* Messages leave in outbox order, one awaiting PUBACK at a time and at most
  ``outbox.max_unconfirmed`` awaiting the aggregator: throughput is bounded by the
  broker round trip (hundreds per second on a LAN), far above the one aggregate per
  window a classroom produces.
* Health messages are not queued: a stale health reading is worth nothing.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import paho.mqtt.client as mqtt

from classpulse_contract import (
    Ack,
    Aggregate,
    Command,
    CommandResult,
    ContractError,
    Health,
    Status,
    dumps,
    topic,
)
from classpulse_contract.v1 import parse_message
from edge_agent.config import AgentConfig, MqttConfig
from edge_agent.delivery import ACK_MODE_KEY, Confirmations
from edge_agent.outbox import Outbox

log = logging.getLogger(__name__)
PUBACK_TIMEOUT_S = 10.0
AGENT_VERSION = "0.1.0"

CommandHandler = Callable[[Command], tuple[bool, str]]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def apply_credentials(c: mqtt.Client, m: MqttConfig) -> None:
    """User name, password (from its credential file) and TLS, the same for the agent and ``edge-agent check``."""
    if m.username:
        password = m.password_file.read_text(encoding="utf-8").strip() if m.password_file else None
        c.username_pw_set(m.username, password)
    if m.tls is not None:
        c.tls_set(ca_certs=str(m.tls.ca_file),
                  certfile=str(m.tls.cert_file) if m.tls.cert_file else None,
                  keyfile=str(m.tls.key_file) if m.tls.key_file else None)
        c.tls_insecure_set(m.tls.insecure_skip_verify)


class Publisher:
    def __init__(self, cfg: AgentConfig, on_command: CommandHandler | None = None):
        self.cfg = cfg
        d = cfg.device
        self.topics = {k: topic(d.site, d.room, d.id, k)
                       for k in ("agg", "status", "health", "cmd", "cmd/result", "ack")}
        self.outbox = Outbox(cfg.outbox.path, cfg.outbox.max_messages)
        o = cfg.outbox
        self.confirmations = Confirmations(ack_mode=self.outbox.get_meta(ACK_MODE_KEY) != 0,  # unknown: assume acks
                                           confirm_timeout_s=o.confirm_timeout_s, ack_fallback_s=o.ack_fallback_s,
                                           max_unconfirmed=o.max_unconfirmed)
        self._acks: queue.SimpleQueue[list[int]] = queue.SimpleQueue()
        self._acks_recorded = self.outbox.get_meta(ACK_MODE_KEY) == 1
        self._reconnected = threading.Event()
        self.on_command = on_command
        self._commands = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cmd")
        self.connected = threading.Event()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.published = 0
        self.client = self._make_client()

    def _status(self, state: str) -> bytes:
        return dumps(Status(device=self.cfg.device.id, state=state, ts=_now(), agent_version=AGENT_VERSION,
                            policy=self.cfg.policy))

    def _make_client(self) -> mqtt.Client:
        m = self.cfg.mqtt
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"cp-{self.cfg.device.id}",
                        clean_session=False, protocol=mqtt.MQTTv311)
        apply_credentials(c, m)
        # The will must be a fixed payload; "offline" without a timestamp is the honest form.
        c.will_set(self.topics["status"],
                   dumps(Status(device=self.cfg.device.id, state="offline", policy=self.cfg.policy)),
                   qos=1, retain=True)
        self._jitter_backoff(c)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        return c

    def _jitter_backoff(self, c: mqtt.Client) -> None:
        """Fresh random first delay on every disconnect, so a school's devices do not retry in lock-step."""
        m = self.cfg.mqtt
        c.reconnect_delay_set(min_delay=m.reconnect_min_s * random.uniform(1.0, 3.0),  # noqa: S311 - not crypto
                              max_delay=m.reconnect_max_s)

    # ---------------------------------------------------------------- callbacks (paho network thread)
    def _on_connect(self, client, userdata, flags, reason_code, properties=None) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            log.warning("broker refused connection: %s", reason_code)
            return
        log.info("connected to %s:%s", self.cfg.mqtt.host, self.cfg.mqtt.port)
        client.publish(self.topics["status"], self._status("online"), qos=1, retain=True)
        client.subscribe([(self.topics["cmd"], 1), (self.topics["ack"], 1)])
        self._reconnected.set()
        self.connected.set()
        self._wake.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties=None) -> None:  # noqa: ANN001
        self.connected.clear()
        self._jitter_backoff(client)
        if not self._stop.is_set():
            log.warning("disconnected from broker (%s); will reconnect", reason_code)

    def _on_message(self, client, userdata, msg) -> None:  # noqa: ANN001
        if msg.topic == self.topics["ack"]:
            self._on_ack(msg.payload)
            return
        if msg.topic != self.topics["cmd"]:
            return
        try:
            cmd, _ = parse_message(msg.payload, "classpulse.cmd")
        except ContractError as e:
            log.warning("ignored malformed command: %s", e.reason)
            return
        assert isinstance(cmd, Command)  # noqa: S101
        # off paho's network thread: a model update may take a while, and the loop must keep the session alive
        self._commands.submit(self._run_command, cmd)

    def _on_ack(self, payload: bytes) -> None:
        """Hand the confirmed msg_ids to the drain thread (the only one that touches delivery state)."""
        try:
            ack, _ = parse_message(payload, "classpulse.ack")
        except ContractError as e:
            log.warning("ignored malformed ack: %s", e.reason)
            return
        assert isinstance(ack, Ack)  # noqa: S101
        if ack.device == self.cfg.device.id:
            self._acks.put(list(ack.msg_ids))
            self._wake.set()

    @property
    def delivery_confirmation(self) -> str:
        """"aggregator" (end-to-end acks) or "broker" (PUBACK only), for health and the fleet view."""
        return "aggregator" if self.confirmations.ack_mode else "broker"

    def _run_command(self, cmd: Command) -> None:
        """Run one command (one at a time, in arrival order) and publish its result."""
        ok, detail = (True, "pong") if cmd.command == "ping" else (False, "no handler")
        if cmd.command != "ping" and self.on_command is not None:
            try:
                ok, detail = self.on_command(cmd)
            except Exception as e:  # noqa: BLE001 - a failed command is reported, never fatal
                ok, detail = False, f"{type(e).__name__}: {e}"
        res = CommandResult(cmd_id=cmd.cmd_id, device=self.cfg.device.id, ok=ok, detail=detail[:1000], ts=_now())
        self.client.publish(self.topics["cmd/result"], dumps(res), qos=1)

    # ---------------------------------------------------------------- public API
    def start(self) -> None:
        self.client.connect_async(self.cfg.mqtt.host, self.cfg.mqtt.port, keepalive=self.cfg.mqtt.keepalive_s)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._drain, name="outbox-drain", daemon=True)
        self._thread.start()

    def submit(self, agg: Aggregate) -> int:
        """Commit the aggregate to the outbox (durable when this returns), then wake the sender."""
        rid = self.outbox.put(self.topics["agg"], dumps(agg), msg_id=agg.msg_id)
        self._wake.set()
        return rid

    def publish_health(self, health: Health) -> bool:
        if not self.connected.is_set():
            return False
        return self.client.publish(self.topics["health"], dumps(health), qos=1).rc == mqtt.MQTT_ERR_SUCCESS

    def _take_acks(self, now: float) -> None:
        c = self.confirmations
        while True:
            try:
                ids = self._acks.get_nowait()
            except queue.Empty:
                break
            if c.acked(self.outbox.confirm(ids), now) or not self._acks_recorded:
                self.outbox.set_meta(ACK_MODE_KEY, 1)
                self._acks_recorded = True
                log.info("aggregator acknowledges end to end: rows wait for its confirmation")
        if c.fallback_due(now):
            log.warning("no acknowledgement from the aggregator for %.0f s: falling back to broker PUBACKs "
                        "(an aggregator older than contract 1.2?)", c.ack_fallback_s)
            for rid in c.fall_back():
                self.outbox.delete(rid)
            self.outbox.set_meta(ACK_MODE_KEY, 0)
            self._acks_recorded = False

    def _next_row(self, now: float):  # noqa: ANN202 - OutboxRow | None
        c = self.confirmations
        again = c.due_again(now)
        if again is not None:
            row = self.outbox.get(again)
            if row is not None:
                return row
            c.forgotten({again})  # dropped by the bound meanwhile
        if c.window_full():
            return None
        rows = self.outbox.oldest(1, after=c.sent_upto)
        return rows[0] if rows else None

    def _drain(self) -> None:
        c = self.confirmations
        while not self._stop.is_set():
            if not self.connected.wait(timeout=0.5):
                continue
            if self._reconnected.is_set():
                self._reconnected.clear()
                c.reconnected()
            now = time.monotonic()
            self._take_acks(now)
            row = self._next_row(now)
            if row is None:
                self._wake.wait(timeout=min(1.0, c.confirm_timeout_s / 4))
                self._wake.clear()
                continue
            info = self.client.publish(row.topic, row.payload, qos=1, retain=row.retain)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                time.sleep(0.5)
                continue
            try:
                info.wait_for_publish(timeout=PUBACK_TIMEOUT_S)
            except (RuntimeError, ValueError):
                pass
            if info.is_published():
                self.published += 1
                if row.msg_id is None or c.published(row.id, time.monotonic()):
                    self.outbox.delete(row.id)
            else:
                time.sleep(0.5)  # not acknowledged: it stays first in line and goes again

    def flush(self, timeout: float) -> bool:
        """Wait until the outbox is empty (tests, clean shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.outbox.depth() == 0:
                return True
            self._wake.set()
            time.sleep(0.05)
        return self.outbox.depth() == 0

    def stop(self, flush_timeout: float = 5.0) -> None:
        self._commands.shutdown(wait=True, cancel_futures=True)  # a running command finishes and reports
        if self.connected.is_set():
            self.flush(flush_timeout)
            self.client.publish(self.topics["status"], self._status("offline"), qos=1, retain=True).wait_for_publish(2)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=PUBACK_TIMEOUT_S + 1)
        self.client.disconnect()
        self.client.loop_stop()
        self.outbox.close()
