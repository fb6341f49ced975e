"""IT fleet view: device rows with their latest health, and commands (model updates) sent over MQTT.

Commands go to the device's own ``…/cmd`` topic (the broker ACL lets only the aggregator write
there) as a contract ``Command``; each is recorded in ``device_commands`` and its
``cmd/result`` answer, when the device sends one, fills in the outcome.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from classpulse_contract import (
    Command,
    CommandName,
    CommandResult,
    ContractError,
    dumps,
    parse_message,
    parse_topic,
    topic,
)
from cloud_aggregator.config.web import DashboardConfig
from cloud_aggregator.store import device_commands, iso, now_iso

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt

    from cloud_aggregator.config.broker import MqttConfig
    from cloud_aggregator.store import Store

log = logging.getLogger(__name__)


#: A sensing device analysing fewer frames/s than this share of its target is marked "behind" (the last
#: health interval's rate; 0.9 leaves room for the one frame a busy second costs).
FPS_BEHIND_SHARE = 0.9


def fps_behind(h: dict[str, Any]) -> bool:
    """True when a sensing device's analysed frame rate is below its target (contract 1.1 ``target_fps``)."""
    fps, target = h.get("fps"), h.get("target_fps")
    return bool(h.get("sensing") and fps is not None and target and fps < FPS_BEHIND_SHARE * target)


def fleet_rows(store: Store, cfg: DashboardConfig, now: datetime | None = None) -> list[dict[str, Any]]:
    now = now or datetime.now(timezone.utc)
    cutoff = iso(now - timedelta(seconds=cfg.offline_after_s))
    from .live import room_names

    names = room_names(store)
    out = []
    for d in store.devices():
        h = d.get("health") or {}
        online = d.get("state") != "offline" and bool(d.get("last_seen")) and d["last_seen"] >= cutoff
        out.append({"device": d["device"], "site": d["site"], "room": d["room"], "online": online,
                    "room_name": names.get((d["site"], d["room"])),
                    "state": d.get("state"), "last_seen": d.get("last_seen"), "temp_c": h.get("cpu_temp_c"),
                    "outbox_depth": h.get("outbox_depth"), "fps": h.get("fps"), "policy": h.get("policy"),
                    "outbox_oldest_unconfirmed_s": h.get("outbox_oldest_unconfirmed_s"),
                    "delivery_confirmation": h.get("delivery_confirmation"),
                    "model_versions": h.get("model_versions") or {}, "last_model_update": h.get("last_model_update"),
                    "sensing": h.get("sensing"),
                    "camera_ok": h.get("camera_ok"), "mic_ok": h.get("mic_ok"), "cpu_load": h.get("cpu_load"),
                    "disk_free_mb": h.get("disk_free_mb"), "quality": h.get("quality") or [],
                    "target_fps": h.get("target_fps"), "fps_behind": fps_behind(h),
                    "vision_level": h.get("vision_level"), "vision_level_name": h.get("vision_level_name")})
    return out


def commands(store: Store, device: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The latest commands (of one device, or all) with their ``args`` decoded, for the fleet page."""
    rows = device_commands.recent_commands(store, device, limit)
    for r in rows:
        r["args"] = json.loads(r["args"]) if r["args"] else {}
    return rows


class CommandSender:
    """One MQTT client of the web app: publishes commands, records ``cmd/result`` answers."""

    def __init__(self, store: Store, mqtt_cfg: MqttConfig):
        self.store, self.cfg = store, mqtt_cfg
        self._client: mqtt.Client | None = None
        self._lock = threading.Lock()

    def _connect(self) -> mqtt.Client:
        import paho.mqtt.client as mqtt

        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{self.cfg.client_id}-web",
                        protocol=mqtt.MQTTv311)
        if self.cfg.username:
            pw = self.cfg.password_file.read_text().strip() if self.cfg.password_file else None
            c.username_pw_set(self.cfg.username, pw)
        if self.cfg.tls is not None:
            c.tls_set(ca_certs=str(self.cfg.tls.ca_file),
                      certfile=str(self.cfg.tls.cert_file) if self.cfg.tls.cert_file else None,
                      keyfile=str(self.cfg.tls.key_file) if self.cfg.tls.key_file else None)
        c.on_connect = lambda cl, *_a: cl.subscribe("classpulse/v1/+/+/+/cmd/result", qos=1)
        c.on_message = self._on_result
        c.connect(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s)
        c.loop_start()
        return c

    def _on_result(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:  # noqa: ANN401
        try:
            where = parse_topic(msg.topic)
            res, _ = parse_message(bytes(msg.payload), "classpulse.cmd_result")
            assert isinstance(res, CommandResult)  # the expected schema makes it one
            if res.device != where["device"]:  # a device answers only for itself (the ACL pins its topic)
                raise ContractError(f"result for {res.device!r} on {where['device']!r}'s topic")
        except ContractError as e:
            log.warning("bad command result on %s: %s", msg.topic, e)
            return
        device_commands.record_result(self.store, res.cmd_id, res.device, res.ok, res.detail, iso(res.ts))

    def send(self, device: dict[str, Any], command: CommandName, args: dict[str, Any], by: str) -> dict[str, Any]:
        cmd = Command(cmd_id=secrets.token_hex(8), command=command, args=args, issued_at=datetime.now(timezone.utc))
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            info = self._client.publish(topic(device["site"], device["room"], device["device"], "cmd"), dumps(cmd),
                                        qos=1)
        row = {"cmd_id": cmd.cmd_id, "device": device["device"], "site": device["site"], "room": device["room"],
               "command": command, "args": json.dumps(args), "issued_by": by, "issued_at": now_iso(),
               "result_ok": None, "result_detail": None, "result_at": None}
        device_commands.record_command(self.store, row)
        info.wait_for_publish(timeout=5)
        return {**row, "args": args, "published": info.is_published()}

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.loop_stop()
                self._client.disconnect()
                self._client = None
