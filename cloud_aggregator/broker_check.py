"""``cloud-aggregator check``: will the broker keep the aggregator's session across its own restart?

The end-to-end acks make a forgetful broker cost only a delay, but a broker that keeps sessions
is still what keeps that delay short and the devices' outboxes small. What can be seen from a
client, without touching the broker's config:

* sessions: reconnect with ``clean_session=False`` — no ``session_present`` means the broker
  keeps no session even between connections;
* restart: a retained marker (written on every check) or a retained ack older than the broker's
  start (``$SYS/broker/uptime``) proves it kept retained state across a restart; when the store
  holds windows acked before that start and no retained message survived, it did not.

Anything that cannot be seen is said so, never reported as fine.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import paho.mqtt.client as mqtt

from classpulse_contract import topic
from cloud_aggregator.config import AggregatorConfig

#: A pseudo device's ack topic: the aggregator may write it (ACL) and no device can read it.
MARKER = topic("classpulse-check", "broker", "persistence-probe", "ack")


def _client(cfg: AggregatorConfig, suffix: str, clean: bool) -> mqtt.Client:
    m = cfg.mqtt
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{m.client_id}-{suffix}", clean_session=clean,
                    protocol=mqtt.MQTTv311)
    if m.username:
        c.username_pw_set(m.username, m.password_file.read_text(encoding="utf-8").strip() if m.password_file else None)
    if m.tls is not None:
        c.tls_set(ca_certs=str(m.tls.ca_file), certfile=str(m.tls.cert_file) if m.tls.cert_file else None,
                  keyfile=str(m.tls.key_file) if m.tls.key_file else None)
    return c


def _connect(c: mqtt.Client, cfg: AggregatorConfig, wait: float) -> tuple[bool, bool]:
    """Connect; returns (connected, session_present)."""
    done, present = threading.Event(), [False]

    def on_connect(cl, u, flags, rc, p=None) -> None:  # noqa: ANN001
        present[0] = bool(getattr(flags, "session_present", False))
        if not rc.is_failure:
            done.set()
    c.on_connect = on_connect
    c.connect(cfg.mqtt.host, cfg.mqtt.port, keepalive=30)
    c.loop_start()
    return done.wait(wait), present[0]


def session_kept(cfg: AggregatorConfig, wait: float) -> bool | None:
    c = _client(cfg, "check-session", clean=False)
    ok, _ = _connect(c, cfg, wait)
    if not ok:
        return None
    c.subscribe(MARKER, qos=1)
    time.sleep(0.3)
    c.disconnect()
    c.loop_stop()
    c2 = _client(cfg, "check-session", clean=False)
    ok, present = _connect(c2, cfg, wait)
    c2.disconnect()
    c2.loop_stop()
    c3 = _client(cfg, "check-session", clean=True)  # leave no session behind
    _connect(c3, cfg, wait)
    c3.disconnect()
    c3.loop_stop()
    return present if ok else None


def retained_view(cfg: AggregatorConfig, wait: float) -> tuple[float | None, list[datetime]]:
    """(broker uptime in s or None, the ``ts`` of every retained ack and marker); then writes a fresh marker."""
    got: list[datetime] = []
    uptime: list[float] = []
    c = _client(cfg, "check-retained", clean=True)

    def on_message(cl, u, msg) -> None:  # noqa: ANN001
        if msg.topic == "$SYS/broker/uptime":
            try:
                uptime.append(float(msg.payload.decode().split()[0]))
            except (ValueError, IndexError):
                pass
            return
        if msg.retain:
            try:
                got.append(datetime.fromisoformat(json.loads(msg.payload)["ts"].replace("Z", "+00:00")))
            except (ValueError, KeyError, TypeError):
                pass
    c.on_message = on_message
    ok, _ = _connect(c, cfg, wait)
    if not ok:
        raise OSError(f"broker {cfg.mqtt.host}:{cfg.mqtt.port} did not accept the aggregator's credentials in time")
    c.subscribe([("$SYS/broker/uptime", 0), ("classpulse/v1/+/+/+/ack", 1)])
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and not uptime:
        time.sleep(0.1)
    time.sleep(min(1.0, wait))  # retained messages arrive right after the subscription
    now = datetime.now(timezone.utc)
    c.publish(MARKER, json.dumps({"ts": now.isoformat(), "note": "cloud-aggregator check"}), qos=1,
              retain=True).wait_for_publish(wait)
    c.disconnect()
    c.loop_stop()
    return (uptime[-1] if uptime else None), got


def assess(uptime_s: float | None, retained: list[datetime], stored_before_start: bool, session: bool | None,
           now: datetime | None = None) -> dict[str, Any]:
    """Pure verdict from what the broker showed."""
    now = now or datetime.now(timezone.utc)
    warnings, facts = [], []
    if session is None:
        warnings.append("could not test session keeping (connection failed)")
    elif not session:
        warnings.append("the broker keeps no persistent session even between two connections: messages sent "
                        "while the aggregator reconnects are lost (devices resend them only after their timeout)")
    else:
        facts.append("the broker keeps the aggregator's session between connections")
    if uptime_s is None:
        warnings.append("$SYS/broker/uptime is not readable: whether sessions survive a broker restart cannot be "
                        "checked; use persistence true, autosave_on_changes true (see docs/scaling.md)")
        return {"ok": False, "warnings": warnings, "facts": facts}
    started = now - timedelta(seconds=uptime_s)
    facts.append(f"broker up since {started.isoformat(timespec='seconds')}")
    if any(ts < started for ts in retained):
        facts.append("retained messages written before the broker's last start are still there: it persists")
    elif stored_before_start:
        warnings.append("the broker restarted and kept none of the retained acks written before: it has no "
                        "persistence, so sessions and messages queued for the aggregator are lost at every "
                        "restart (delivery still completes through device resends); set persistence true, "
                        "autosave_on_changes true")
    else:
        facts.append("the broker has not restarted since anything was retained: run check again after a "
                     "broker restart to know whether it persists")
    return {"ok": not warnings, "warnings": warnings, "facts": facts}


def main(args: argparse.Namespace) -> int:
    from cloud_aggregator.config import load_aggregator_config
    from cloud_aggregator.store import aggregates, iso, open_store

    cfg = load_aggregator_config(args.config)
    session = session_kept(cfg, args.wait)
    uptime, retained = retained_view(cfg, args.wait)
    stored_before = False
    if uptime is not None and cfg.ingest.end_to_end_acks:
        store = open_store(cfg.store)
        try:
            cut = iso(datetime.now(timezone.utc) - timedelta(seconds=uptime))
            stored_before = aggregates.stored_before(store, cut)
        finally:
            store.close()
    out = assess(uptime, retained, stored_before, session)
    print(json.dumps(out, indent=1))
    return 0 if out["ok"] else 1
