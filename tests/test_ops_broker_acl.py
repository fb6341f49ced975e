"""Broker side with the shipped ACL: TLS + client certs + per-device passwords; no device can act as another."""

from __future__ import annotations

import ssl
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from _broker import can_login, start_shipped_mosquitto, subscribe_acked
from _ops_pki import make_pki

from classpulse_contract.v1 import Aggregate, dumps, parse_message, topic
from cloud_aggregator.device_registry import acl_text
from edge_agent.config import AgentConfig
from edge_agent.mqtt_session import Publisher
from tests._procs import patient, wait_for

pytestmark = pytest.mark.security
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def agg(i: int) -> Aggregate:
    return Aggregate(msg_id=i, site="s1", room="r1", device="d1", window_start=T0 + timedelta(minutes=i),
                     window_end=T0 + timedelta(minutes=i + 1), policy="no-emotion", k_anonymity=5, n_faces=3)


USERS = {"d1": "pw-d1", "d2": "pw-d2", "aggregator": "pw-agg"}


@pytest.fixture
def secure_broker(tmp_path):
    """The shipped config: devices d1, d2 (both in s1/r1) on the device listener, the aggregator on its own."""
    pki = make_pki(tmp_path / "pki", ["d1", "d2", "aggregator"])
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "classpulse-devices.acl").write_text(acl_text([("d1", "s1", "r1"), ("d2", "s1", "r1")]))
    b = start_shipped_mosquitto(etc, pki)
    for u in ("d1", "d2"):
        b.add_user("devices", u, USERS[u])
    b.add_user("services", "aggregator", USERS["aggregator"])
    b.reload()
    tls = (pki / "ca.crt", pki / "d1.crt", pki / "d1.key")
    assert wait_for(lambda: can_login(b.devices_port, "d1", USERS["d1"], tls=tls), 10), "password files reloaded"
    yield b, pki
    b.stop()


def client(b, pki: Path, user: str, password: str, cert: str | None = None) -> tuple[mqtt.Client, list, threading.Event]:
    """Devices log in on the device listener, the aggregator on the services listener."""
    got: list = []
    ok = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{user}-{time.monotonic_ns()}")
    c.username_pw_set(user, password)
    cert = cert or user
    c.tls_set(ca_certs=str(pki / "ca.crt"), certfile=str(pki / f"{cert}.crt"), keyfile=str(pki / f"{cert}.key"),
              cert_reqs=ssl.CERT_REQUIRED)
    c.on_connect = lambda cl, u, f, rc, p: ok.set() if not rc.is_failure else None
    c.on_message = lambda cl, u, m: got.append((m.topic, m.payload))
    c.connect(b.host, b.services_port if user == "aggregator" else b.devices_port)
    c.loop_start()
    return c, got, ok


def test_publisher_over_tls_with_cert_and_password(secure_broker, tmp_path):
    b, pki = secure_broker
    agg_c, got, ok = client(b, pki, "aggregator", USERS["aggregator"])
    assert ok.wait(patient(5))
    subscribe_acked(agg_c, "classpulse/v1/#")
    (tmp_path / "pwfile").write_text("pw-d1\n")
    cfg = AgentConfig.model_validate({
        "device": {"id": "d1", "site": "s1", "room": "r1"},
        "mqtt": {"host": b.host, "port": b.devices_port, "username": "d1", "password_file": str(tmp_path / "pwfile"),
                 "tls": {"ca_file": str(pki / "ca.crt"), "cert_file": str(pki / "d1.crt"),
                         "key_file": str(pki / "d1.key")},
                 "reconnect_min_s": 0.1, "reconnect_max_s": 0.5},
        # a raw subscriber stands in for the aggregator and never acks: PUBACK mode after 1 s
        "outbox": {"path": str(tmp_path / "o.db"), "ack_fallback_s": 1},
    })
    p = Publisher(cfg)
    p.start()
    for i in range(5):
        p.submit(agg(i))
    assert wait_for(lambda: sum(t.endswith("/agg") for t, _ in got) == 5)
    assert wait_for(lambda: p.outbox.depth() == 0)
    p.stop()
    agg_c.loop_stop()


def test_wrong_password_and_no_cert_are_refused(secure_broker):
    b, pki = secure_broker
    c, _, ok = client(b, pki, "d1", "wrong")
    assert not ok.wait(2)
    c.loop_stop()
    bare = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    bare.username_pw_set("d1", USERS["d1"])
    bare.tls_set(ca_certs=str(pki / "ca.crt"), cert_reqs=ssl.CERT_REQUIRED)
    with pytest.raises((ssl.SSLError, OSError)):
        bare.connect(b.host, b.devices_port)
        for _ in range(20):
            if bare.loop(0.1) != mqtt.MQTT_ERR_SUCCESS:
                raise OSError("closed")
        if not bare.is_connected():
            raise OSError("not connected")


def test_device_cannot_publish_or_read_as_another(secure_broker):
    b, pki = secure_broker
    agg_c, got, ok = client(b, pki, "aggregator", USERS["aggregator"])
    assert ok.wait(patient(5))
    subscribe_acked(agg_c, "classpulse/v1/#")
    d2, d2_got, ok2 = client(b, pki, "d2", USERS["d2"])
    d1, _, ok1 = client(b, pki, "d1", USERS["d1"])
    assert ok1.wait(patient(5)) and ok2.wait(patient(5))
    subscribe_acked(d2, topic("s1", "r1", "d1", "cmd"))  # snooping on d1's commands
    subscribe_acked(d2, topic("s1", "r1", "d1", "agg"))
    subscribe_acked(d2, topic("s1", "r1", "d1", "ack"))  # and on its end-to-end acks
    d1_acks: list = []
    d1.message_callback_add(topic("s1", "r1", "d1", "ack"), lambda cl, u, m: d1_acks.append(m.payload))
    subscribe_acked(d1, topic("s1", "r1", "d1", "ack"))
    agg_c.publish(topic("s1", "r1", "d1", "ack"), b'{"ack": 1}', qos=1, retain=True).wait_for_publish(5)
    d1.publish(topic("s1", "r1", "d1", "ack"), b'{"forged": 1}', qos=1).wait_for_publish(5)  # write: denied
    assert wait_for(lambda: d1_acks == [b'{"ack": 1}'])
    forged = agg(7).model_copy(update={"device": "d2"})
    d1.publish(topic("s1", "r1", "d2", "agg"), dumps(forged), qos=1).wait_for_publish(5)  # d1 posing as d2
    d1.publish(topic("s1", "r1", "d1", "agg"), dumps(agg(8)), qos=1).wait_for_publish(5)  # its own: allowed
    agg_c.publish(topic("s1", "r1", "d1", "cmd"), b"{}", qos=1).wait_for_publish(5)
    assert wait_for(lambda: any(t == topic("s1", "r1", "d1", "agg") for t, _ in got))
    time.sleep(0.5)
    topics = [t for t, _ in got]
    assert topic("s1", "r1", "d2", "agg") not in topics
    assert [parse_message(p)[0].msg_id for t, p in got if t.endswith("/agg")] == [8]
    assert d2_got == [] and d1_acks == [b'{"ack": 1}']
    assert not any(p == b'{"forged": 1}' for _, p in got)
    for c in (agg_c, d1, d2):
        c.loop_stop()
