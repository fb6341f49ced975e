"""``mqtt:`` section: how the aggregator reaches the broker as a (shared) MQTT 5 subscriber.

Not shared with ``edge_agent.config``: the two clients agree only on host, port, user and keepalive; the box
publishes with QoS 1 and reconnect backoff, reads its credential files through systemd's copies and may skip
TLS verification in a lab, while the aggregator subscribes with a client id, shared group and MQTT 5 session.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from cloud_aggregator.config.section import Section


class TlsConfig(Section):
    ca_file: Path
    cert_file: Path | None = None
    key_file: Path | None = None


class MqttConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password_file: Path | None = None
    tls: TlsConfig | None = None
    client_id: str = Field("classpulse-aggregator", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    shared_group: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$",
                                     description="subscribe as $share/<group>/… so processes split the load")
    keepalive_s: int = Field(30, ge=5, le=600)
    protocol: Literal["5", "3.1.1"] = Field("5", description="3.1.1 for brokers without MQTT 5 (receive maximum "
                                            "then comes from the broker, e.g. mosquitto max_inflight_messages)")
    receive_maximum: int = Field(1000, ge=1, le=65535, description="unacked messages the broker may send us")
    session_expiry_s: int = Field(7 * 86400, ge=60, description="how long the broker keeps our queue while we are away")
    persistent_session: bool = Field(True, description="keep a broker session (queue while away); false: a clean "
                                     "session that leaves nothing on the broker (the demo on a borrowed broker)")
