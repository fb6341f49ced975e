"""MQTT session for one device: outbox draining at QoS 1, retained status + LWT, commands.

Ordering: exactly one aggregate is in flight at a time; the next leaves only after the PUBACK for the
previous one deleted it from the outbox. That gives strict order across reconnects and crashes at the cost of
one round trip per window (windows are 30-60 s apart, so throughput is never the limit). A message whose
PUBACK was lost is sent again after reconnect; the aggregator de-duplicates on (device, msg_id).
Reconnects use exponential backoff with full jitter so a school's boxes do not stampede a restarted broker.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
from collections.abc import Callable
from datetime import datetime, timezone

import paho.mqtt.client as mqtt

from classpulse_contract.v1 import (
    Aggregate,
    Command,
    CommandResult,
    ContractError,
    Health,
    Status,
    dumps,
    parse_message,
    topic,
)
from edge_agent.config import AgentConfig
from edge_agent.outbox import Outbox

log = logging.getLogger(__name__)

CommandHandler = Callable[[Command], tuple[bool, str]]


def backoff_delay(attempt: int, lo: float, hi: float, rng: random.Random | None = None) -> float:
    """Full-jitter exponential backoff: uniform(lo, min(hi, lo * 2**attempt))."""
    r = rng or random
    return r.uniform(lo, min(hi, lo * (2 ** min(attempt, 30))))


class Publisher:
    """Durable publisher the pipeline hands aggregates to. ``submit`` returns once the outbox committed."""

    def __init__(self, cfg: AgentConfig, agent_version: str = "0.1.0") -> None:
        self.cfg = cfg
        d = cfg.device
        self._t = {k: topic(d.site, d.room, d.id, k) for k in ("agg", "status", "health", "cmd", "cmd/result")}
        self.outbox = Outbox(cfg.outbox.path, cfg.outbox.max_messages)
        self.agent_version = agent_version
        self._handler: CommandHandler | None = None
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._inflight: tuple[int, int] | None = None  # (mid, outbox row id)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.connects = 0
        self._client = self._make_client()

    # -- public API -------------------------------------------------------------------------------
    def on_command(self, handler: CommandHandler) -> None:
        """Register ``handler(cmd) -> (ok, detail)``; its result is published on cmd/result."""
        self._handler = handler

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mqtt-session", daemon=True)
        self._thread.start()

    def submit(self, agg: Aggregate) -> int:
        """Commit the aggregate to the outbox (durable on return); it is published when the broker is up."""
        return self.outbox.put(self._t["agg"], dumps(agg))

    def publish_health(self, h: Health) -> None:
        """Best effort, QoS 0: health is periodic and stale health is worthless after an outage."""
        if self._connected.is_set():
            self._client.publish(self._t["health"], dumps(h), qos=0)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def stop(self, timeout: float = 5.0) -> None:
        """Publish retained offline, disconnect cleanly (the LWT is not sent on a clean disconnect)."""
        if self._connected.is_set():
            info = self._client.publish(self._t["status"], dumps(self._status("offline")), qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2)
            except (RuntimeError, ValueError):
                pass
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)
        try:
            self._client.disconnect()
        except Exception as e:  # noqa: BLE001 - already gone
            log.debug("disconnect: %s", e)
        self.outbox.close()

    # -- internals --------------------------------------------------------------------------------
    def _status(self, state: str) -> Status:
        return Status(device=self.cfg.device.id, state=state, ts=datetime.now(timezone.utc),
                      agent_version=self.agent_version, policy=self.cfg.policy)

    def _make_client(self) -> mqtt.Client:
        m = self.cfg.mqtt
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.cfg.device.id, clean_session=True)
        if m.username:
            pw = m.password_file.read_text().strip() if m.password_file else None
            c.username_pw_set(m.username, pw)
        if m.tls:
            c.tls_set(
                ca_certs=str(m.tls.ca_file),
                certfile=str(m.tls.cert_file) if m.tls.cert_file else None,
                keyfile=str(m.tls.key_file) if m.tls.key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
            c.tls_insecure_set(m.tls.insecure_skip_verify)
        c.will_set(self._t["status"], dumps(self._status("offline")), qos=1, retain=True)
        c.max_inflight_messages_set(20)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        c.on_message = self._on_message
        return c

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            log.warning("broker refused connection: %s", reason_code)
            return
        self.connects += 1
        client.publish(self._t["status"], dumps(self._status("online")), qos=1, retain=True)
        client.subscribe(self._t["cmd"], qos=1)
        with self._lock:
            self._inflight = None
        self._connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        self._connected.clear()
        with self._lock:
            self._inflight = None

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:  # noqa: ANN001
        with self._lock:
            inflight = self._inflight
            if inflight and inflight[0] == mid:
                self.outbox.delete(inflight[1])
                self._inflight = None

    def _on_message(self, client, userdata, msg) -> None:  # noqa: ANN001
        try:
            cmd, _ = parse_message(msg.payload, "classpulse.cmd")
        except ContractError as e:
            log.warning("rejected command: %s", e)
            return
        assert isinstance(cmd, Command)  # noqa: S101
        if self._handler is None:
            ok, detail = (True, "pong") if cmd.command == "ping" else (False, "no handler for commands")
        else:
            try:
                ok, detail = self._handler(cmd)
            except Exception as e:  # noqa: BLE001 - a failing command must be reported, not crash the session
                ok, detail = False, f"{type(e).__name__}: {e}"[:1024]
        res = CommandResult(cmd_id=cmd.cmd_id, device=self.cfg.device.id, ok=ok, detail=detail[:1024],
                            ts=datetime.now(timezone.utc))
        client.publish(self._t["cmd/result"], dumps(res), qos=1)

    def _drain_one(self) -> None:
        with self._lock:
            if self._inflight is not None or not self._connected.is_set():
                return
            row = self.outbox.peek()
            if row is None:
                return
            info = self._client.publish(row.topic, row.payload, qos=1)
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                self._inflight = (info.mid, row.id)

    def _run(self) -> None:
        m = self.cfg.mqtt
        attempt = 0
        while not self._stop.is_set():
            try:
                self._client.connect(m.host, m.port, keepalive=m.keepalive_s)
            except (OSError, ssl.SSLError) as e:
                delay = backoff_delay(attempt, m.reconnect_min_s, m.reconnect_max_s)
                log.info("broker %s:%s unreachable (%s); retry in %.1fs", m.host, m.port, e, delay)
                attempt += 1
                self._stop.wait(delay)
                continue
            while not self._stop.is_set():
                rc = self._client.loop(timeout=0.05)
                if rc != mqtt.MQTT_ERR_SUCCESS:
                    break
                if self._connected.is_set():
                    attempt = 0
                self._drain_one()
            self._connected.clear()
            if not self._stop.is_set():
                delay = backoff_delay(attempt, m.reconnect_min_s, m.reconnect_max_s)
                attempt += 1
                self._stop.wait(delay)
