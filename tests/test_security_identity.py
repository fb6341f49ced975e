"""Issue #18 findings 1-3 as regressions against real processes: the project's Mosquitto config (both
listeners, generated device ACL, services ACL), the real aggregator (ingest + web, enrolment by token).

1. a device cannot publish as another room or site, and its status cannot move it; a room move is IT's
   (``PUT /api/fleet/{device}/room``, audited) and the broker follows it;
2. enrolment refuses the aggregator's names and other non-device ids, refuses to silently re-key a device,
   and never touches the aggregator's own broker credential;
3. a device connecting with the aggregator's client id does not knock the aggregator off the broker.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classpulse_contract import ID_PATTERN, Aggregate, Status, dumps, topic
from cloud_aggregator.device_registry import acl_text, identity_problem, name_problem, reserved_names
from tests._broker import ShippedBroker, can_login, free_port, start_shipped_mosquitto
from tests._ops_pki import make_pki
from tests._procs import patient, wait_for

pytestmark = pytest.mark.security
IT = ("it", "it-identity-test-pw")
AGG_PW = "aggregator-service-password-1"
BIO = ("north", "biology-lab", "cp-north-biology-lab")
CHEM = ("north", "chemistry-lab", "cp-north-chemistry-lab")


def agg(msg_id: int, site: str, room: str, device: str) -> Aggregate:
    end = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=10 - msg_id % 10)
    return Aggregate(msg_id=msg_id, site=site, room=room, device=device, window_start=end - timedelta(seconds=60),
                     window_end=end, policy="no-emotion", k_anonymity=5, n_faces=12, attention_share=0.5)


class System:
    """Shipped broker + aggregator (ingest on the services listener, enrolment writing the device files)."""

    def __init__(self, tmp: Path):
        from cloud_aggregator.config import AggregatorConfig
        from cloud_aggregator.config.store import StoreConfig
        from cloud_aggregator.runtime import build
        from cloud_aggregator.store import open_store
        from cloud_aggregator.store.db import ensure_web_tables
        from cloud_aggregator.web import auth

        self.pki = make_pki(tmp / "pki", ["aggregator", "device"])
        etc = tmp / "etc"
        etc.mkdir()
        db = tmp / "agg.db"
        self.web_port = free_port()
        (tmp / "agg-pw").write_text(AGG_PW)
        # ports are known only once the broker runs; the aggregator's config needs them: start the broker first
        # with the (still empty) device ACL, as a first installation does
        self.broker: ShippedBroker = start_shipped_mosquitto(etc, self.pki)
        self.broker.add_user("services", "aggregator", AGG_PW)
        self.broker.reload()
        s = open_store(StoreConfig(path=db))
        ensure_web_tables(s)
        auth.create_user(s, *IT, "it")
        s.close()
        self.cfg = AggregatorConfig.model_validate({
            "mqtt": {"host": "127.0.0.1", "port": self.broker.services_port, "username": "aggregator",
                     "password_file": str(tmp / "agg-pw"), "client_id": "classpulse-aggregator",
                     "tls": {"ca_file": str(self.pki / "ca.crt"), "cert_file": str(self.pki / "aggregator.crt"),
                             "key_file": str(self.pki / "aggregator.key")}},
            "store": {"path": str(db)}, "web": {"host": "127.0.0.1", "port": self.web_port},
            "dashboard": {"report_schedule": "off"}, "warnings": {"schedule": "off"},
            "enrolment": {"broker_host": "127.0.0.1", "broker_port": self.broker.devices_port,
                          "password_file": str(etc / "classpulse-devices.passwd"),
                          "acl_file": str(etc / "classpulse-devices.acl"),
                          "mosquitto_pid_file": str(self.broker.pid_file)}})
        assert self.cfg.ingest.unregistered_devices == "dead_letter", "the deployed default"
        self.runtime = build(self.cfg).start()
        self.store, self.ingest = self.runtime.store, self.runtime.ingest
        assert self.ingest.connected.wait(patient(30)), "aggregator up on the broker (it retries until reloaded)"
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.web_port}")
        csrf = self.http.post("/api/login", json=dict(zip(("username", "password"), IT, strict=True))).json()["csrf"]
        self.http.headers["X-CSRF-Token"] = csrf

    def token(self, site: str, room: str, device: str, **extra: object) -> httpx.Response:
        return self.http.post("/api/fleet/tokens", json={"site": site, "room": room, "device": device, **extra})

    def enrol(self, site: str, room: str, device: str) -> str:
        r = self.token(site, room, device)
        assert r.status_code == 201, r.text
        out = httpx.post(f"http://127.0.0.1:{self.web_port}/api/enrol", json={"token": r.json()["token"]})
        assert out.status_code == 200 and out.json()["broker_reloaded"] is True, out.text
        password = out.json()["mqtt"]["password"]
        tls = (self.pki / "ca.crt", self.pki / "device.crt", self.pki / "device.key")
        assert wait_for(lambda: can_login(self.broker.devices_port, device, password, tls=tls), 10), "reloaded"
        return password

    def device(self, user: str, password: str, client_id: str | None = None) -> tuple[mqtt.Client, threading.Event]:
        ok = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"{user}-x")
        c.username_pw_set(user, password)
        c.tls_set(ca_certs=str(self.pki / "ca.crt"), certfile=str(self.pki / "device.crt"),
                  keyfile=str(self.pki / "device.key"), cert_reqs=ssl.CERT_REQUIRED)
        c.on_connect = lambda cl, u, f, rc, p: ok.set() if not rc.is_failure else None
        c.connect("127.0.0.1", self.broker.devices_port)
        c.loop_start()
        return c, ok

    def stored(self) -> list[dict]:
        return self.store._query("SELECT device, msg_id, site, room FROM aggregates ORDER BY msg_id")

    def close(self) -> None:
        self.http.close()
        self.runtime.stop()
        self.broker.stop()


@pytest.fixture
def system(tmp_path):
    s = System(tmp_path)
    yield s
    s.close()


def _publish(c: mqtt.Client, t: str, payload: bytes) -> None:
    c.publish(t, payload, qos=1).wait_for_publish(10)


def test_finding1_device_cannot_publish_as_another_room_or_site_and_only_it_moves_it(system):
    bio_pw = system.enrol(*BIO)
    system.enrol(*CHEM)
    bio, ok = system.device(BIO[2], bio_pw)
    assert ok.wait(patient(10))
    dev = BIO[2]
    _publish(bio, topic("north", "chemistry-lab", dev, "agg"), dumps(agg(1, "north", "chemistry-lab", dev)))
    _publish(bio, topic("south", "biology-lab", dev, "agg"), dumps(agg(2, "south", "biology-lab", dev)))
    _publish(bio, topic("north", "chemistry-lab", dev, "status"),
             dumps(Status(device=dev, state="online", ts=datetime.now(timezone.utc))))
    _publish(bio, topic(*BIO, "agg"), dumps(agg(3, *BIO)))  # its own room: the barrier (same session, in order)
    assert wait_for(lambda: any(r["msg_id"] == 3 for r in system.stored()), 20)
    assert system.stored() == [{"device": dev, "msg_id": 3, "site": "north", "room": "biology-lab"}], \
        "nothing stored under another teacher's room or another site"
    reg = {d["device"]: (d["site"], d["room"]) for d in system.store.devices()}
    assert reg[dev] == ("north", "biology-lab"), "a status message does not move the device"

    # IT moves the device: audited, the broker ACL follows; the old room is refused from now on, and a token
    # still naming the old room is revoked (redeeming it would have moved the device back)
    stale = system.token(*BIO, rekey=True).json()["token"]
    r = system.http.put(f"/api/fleet/{dev}/room", json={"site": "north", "room": "physics-lab"})
    assert r.status_code == 200 and r.json()["previous"] == {"site": "north", "room": "biology-lab"}, r.text
    assert r.json()["broker_reloaded"] is True
    rows = system.store._query("SELECT action, detail, username FROM audit_log WHERE action = 'move_device'")
    assert rows == [{"action": "move_device", "detail": f"{dev}: north/biology-lab -> north/physics-lab",
                     "username": "it"}]
    assert httpx.post(f"http://127.0.0.1:{system.web_port}/api/enrol", json={"token": stale}).status_code == 403
    _publish(bio, topic(*BIO, "agg"), dumps(agg(4, *BIO)))

    def new_room_stored() -> bool:  # until the broker has re-read its ACL the new room is refused: send again
        _publish(bio, topic("north", "physics-lab", dev, "agg"), dumps(agg(5, "north", "physics-lab", dev)))
        return any(r["msg_id"] == 5 for r in system.stored())

    assert wait_for(new_room_stored, 20, interval=0.5)
    _publish(bio, topic(*BIO, "agg"), dumps(agg(6, *BIO)))  # after the reload, for certain: refused
    _publish(bio, topic("north", "physics-lab", dev, "agg"), dumps(agg(7, "north", "physics-lab", dev)))
    assert wait_for(lambda: any(r["msg_id"] == 7 for r in system.stored()), 20)
    assert [(r["msg_id"], r["room"]) for r in system.stored()] == [(3, "biology-lab"), (5, "physics-lab"),
                                                                    (7, "physics-lab")]
    bio.loop_stop()
    bio.disconnect()


def test_finding1_ingest_dead_letters_what_the_registry_does_not_back(system):
    """Behind the broker, ingest itself refuses: an unknown device, the wrong room, the wrong site (e.g. a
    permissive broker, or a message the ACL let through), each with its reason for IT."""
    from cloud_aggregator.ingest import Incoming

    system.store.upsert_device(BIO[2], "north", "biology-lab")
    dev = BIO[2]
    msgs = [(topic("north", "biology-lab", "cp-never-enrolled", "agg"), agg(1, "north", "biology-lab",
                                                                             "cp-never-enrolled")),
            (topic("north", "chemistry-lab", dev, "agg"), agg(2, "north", "chemistry-lab", dev)),
            (topic("south", "biology-lab", dev, "agg"), agg(3, "south", "biology-lab", dev)),
            (topic("north", "chemistry-lab", dev, "status"), Status(device=dev, state="online")),
            (topic(*BIO, "agg"), agg(4, *BIO))]
    new = system.ingest.process([Incoming(t, dumps(m), i, 1, None, time.time()) for i, (t, m) in enumerate(msgs)])
    assert [a.msg_id for a in new] == [4]
    reasons = {r["topic"]: r["reason"] for r in system.store.dead_letters()}
    assert "not enrolled" in reasons[msgs[0][0]]
    assert "enrolled in north/biology-lab, not north/chemistry-lab" in reasons[msgs[1][0]]
    assert "enrolled in north/biology-lab, not south/biology-lab" in reasons[msgs[2][0]]
    assert "not north/chemistry-lab" in reasons[msgs[3][0]]
    assert {d["device"]: d["room"] for d in system.store.devices()}[dev] == "biology-lab"


def test_finding2_reserved_and_existing_identities_are_safe(system):
    services = (system.broker.etc / "classpulse-services.passwd").read_bytes()
    for name in ("aggregator", "classpulse-aggregator", "classpulse-aggregator-web", "Aggregator", "cp_UPPER",
                 "a" * 65, "-x"):
        r = system.token("north", "r1", name)
        assert r.status_code == 422, (name, r.status_code, r.text)
    for ttl in (True, 1.5, 0, 24 * 14 + 1, "24"):
        r = system.token("north", "r1", "cp-north-r1", ttl_h=ttl)
        assert r.status_code == 422, (ttl, r.text)
    assert system.token("North", "r1", "cp-north-r1").status_code == 422, "site must be a contract id"

    first = system.enrol(*CHEM)
    r = system.token(*CHEM)
    assert r.status_code == 409 and "rekey" in r.json()["detail"], r.text
    r = system.token("north", "biology-lab", CHEM[2], rekey=True)
    assert r.status_code == 409 and "PUT /api/fleet" in r.json()["detail"], "a token does not move a device"
    r = system.token(*CHEM, rekey=True, ttl_h=2)
    assert r.status_code == 201, r.text
    rows = system.store._query("SELECT action, detail FROM audit_log WHERE action IN "
                               "('rekey_device', 'issue_enrolment_token') ORDER BY ts")
    assert [x["action"] for x in rows] == ["issue_enrolment_token", "rekey_device"]
    old = json.loads(rows[1]["detail"].split("old ", 1)[1].split("; new", 1)[0])
    assert old == {"registered": "north/chemistry-lab", "credential": True, "pending_tokens": 0}
    assert "new north/chemistry-lab/cp-north-chemistry-lab" in rows[1]["detail"]
    # the old password still works until the re-key token is redeemed
    c, ok = system.device(CHEM[2], first)
    assert ok.wait(patient(10))
    c.loop_stop()
    c.disconnect()

    # a token for a reserved name issued before these checks (straight into the store) is refused at redeem
    old_token = system.store.issue_token("north", "r1", "aggregator")
    r = httpx.post(f"http://127.0.0.1:{system.web_port}/api/enrol", json={"token": old_token})
    assert r.status_code == 403 and "reserved" in r.json()["detail"], r.text
    assert "aggregator" not in {d["device"] for d in system.store.devices()}

    # the aggregator's credential was never touched and it is still ingesting
    assert (system.broker.etc / "classpulse-services.passwd").read_bytes() == services
    assert "aggregator" not in [ln.split(":")[0] for ln in
                                (system.broker.etc / "classpulse-devices.passwd").read_text().splitlines()]
    assert system.ingest.connected.is_set()
    bad, ok = system.device("aggregator", AGG_PW)  # its password is no good on the device listener
    assert not ok.wait(3)
    bad.loop_stop()


def test_finding3_device_cannot_take_the_aggregators_client_id(system):
    pw = system.enrol(*BIO)
    drops: list[float] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            if not system.ingest.connected.is_set():
                drops.append(time.monotonic())
            time.sleep(0.01)

    w = threading.Thread(target=watch, daemon=True)
    w.start()
    for i in range(6):  # repeated, as the attacker did for 12 s; each would have cut the aggregator off
        c, ok = system.device(BIO[2], pw, client_id=system.cfg.mqtt.client_id)
        assert ok.wait(patient(10)), "the device itself may connect (as its own client id)"
        _publish(c, topic(*BIO, "agg"), dumps(agg(10 + i, *BIO)))
        time.sleep(0.4)
        c.disconnect()
        c.loop_stop()
    assert wait_for(lambda: len(system.stored()) == 6, 20), system.stored()
    stop.set()
    w.join()
    assert drops == [], "the aggregator's session was never taken over"


# ---------------------------------------------------------------------- the pure pieces, any input (hypothesis)
_ids = st.one_of(st.from_regex(ID_PATTERN, fullmatch=True), st.text(max_size=80),
                 st.sampled_from(["aggregator", "x\n", "a b", "a\ntopic readwrite #", "", "-a", "A"]))
_ACL_LINE = re.compile(
    r"(#.*|user [a-z0-9][a-z0-9_-]{0,63}|topic (write|read) classpulse/v1/[a-z0-9][a-z0-9_-]{0,63}"
    r"/[a-z0-9][a-z0-9_-]{0,63}/[a-z0-9][a-z0-9_-]{0,63}/(agg|status|health|cmd/result|cmd|ack)|)")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_ids, _ids, _ids), max_size=6))
def test_generated_acl_only_ever_pins_valid_ids(rows):
    """Registry rows are outside input (imports, old databases): no row can widen or inject ACL rules."""
    text = acl_text(rows)
    assert all(_ACL_LINE.fullmatch(ln) for ln in text.split("\n")), text
    users = [ln.split(" ", 1)[1] for ln in text.split("\n") if ln.startswith("user ")]
    valid = {d for d, s, r in rows if all(re.fullmatch(ID_PATTERN, x) for x in (d, s, r))}
    assert set(users) == valid


@settings(max_examples=300, deadline=None)
@given(_ids)
def test_enrolable_names_are_contract_ids_and_never_reserved(name):
    reserved = reserved_names()
    ok = name_problem(name, reserved) is None
    assert ok == bool(re.fullmatch(ID_PATTERN, name) and name not in reserved)


@settings(max_examples=300, deadline=None)
@given(_ids, _ids, _ids, st.dictionaries(_ids, st.tuples(_ids, _ids), max_size=4),
       st.sampled_from(["accept", "dead_letter"]))
def test_identity_check_accepts_only_the_registered_room(device, site, room, registered, mode):
    problem = identity_problem(device, site, room, registered, mode)
    if device in registered:
        assert (problem is None) == (registered[device] == (site, room))
    else:
        assert (problem is None) == (mode == "accept")
