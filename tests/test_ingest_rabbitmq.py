"""Broker portability: the same ingest, changed only by config, against RabbitMQ's MQTT plugin.

Needs RabbitMQ with ``rabbitmq_mqtt`` listening on 127.0.0.1:1884 (mosquitto owns 1883):
``mqtt.listeners.tcp.default = 1884`` in /etc/rabbitmq/rabbitmq.conf, then
``rabbitmq-plugins enable rabbitmq_mqtt``. Skipped, saying so, when it is not there.
Differences from Mosquitto are in docs/scaling.md (no $share groups; prefetch caps unacked messages).
"""

from __future__ import annotations

import socket
import uuid

import paho.mqtt.client as mqtt
import pytest

from cloud_aggregator.config import AggregatorConfig
from cloud_aggregator.ingest import IngestService
from tests._cloud_helpers import ACCEPT_UNREGISTERED, payload
from tests._procs import patient, wait_for
from tests._store_helpers import store_for

PORT = 1884


def _up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", PORT), 1).close()
        return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _up(), reason="RabbitMQ MQTT plugin not listening on 127.0.0.1:1884; "
                                "as root, bash scripts/rabbitmq_mqtt.sh enables it (scripts/test.sh runs it first)")


def test_same_ingest_on_rabbitmq(tmp_path):
    protocol = "3.1.1"  # RabbitMQ before 3.13 speaks no MQTT 5 (this machine: 3.10.8); the only config change
    pw = tmp_path / "pw"
    pw.write_text("guest")
    site = f"rq{uuid.uuid4().hex[:6]}"  # this broker is shared: a fresh topic subtree per run
    cfg = AggregatorConfig.model_validate({"mqtt": {
        "port": PORT, "username": "guest", "password_file": str(pw), "protocol": protocol,
        "client_id": f"agg-{site}"}, **ACCEPT_UNREGISTERED})
    with store_for("sqlite", tmp_path) as store:
        svc = IngestService(cfg, store)
        svc.start()
        try:
            assert svc.connected.wait(patient(15)), "could not connect to RabbitMQ MQTT"  # subscribed
            pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{site}")
            pub.username_pw_set("guest", "guest")
            pub.connect("127.0.0.1", PORT)
            pub.loop_start()
            topic = f"classpulse/v1/{site}/r1/d1/agg"
            good = [payload(i, site=site) for i in range(50)]
            for p in [*good, good[0], b"{broken"]:
                pub.publish(topic, p, qos=1).wait_for_publish(10)
            pub.loop_stop()
            assert wait_for(lambda: svc.stats.received >= 52, 30), svc.stats
            assert wait_for(lambda: store.count("aggregates") == 50 and store.count("dead_letters") == 1, 10)
            assert svc.stats.duplicates == 1
        finally:
            svc.stop()
