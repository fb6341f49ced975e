"""Device client certificates at enrolment (issues 17/18): the box's CSR is outside input to the aggregator.

- ``device_certs.check_csr`` on any text: a CSR for exactly ``CN=<device>``, or CsrError (one line), nothing else;
- ``POST /api/enrol`` with a bad, oversized, wrong-CN, wrong-key or missing CSR: a clear 422 and nothing
  stored (token still redeemable, no device registered, broker password file and ACL untouched); then the
  good CSR gets a client-auth-only certificate from the client CA, whatever extensions the CSR asked for;
- without a client CA the aggregator ignores a CSR (as before: no certificate, the box writes no key);
- ``edge-agent enroll --server --device-id`` (own process, real aggregator over http) gets a certificate the
  shipped broker (``require_certificate true``) takes; without ``--device-id`` a clear 422, nothing written;
- offline ``edge-agent enroll --ca`` leaves a key (0600) and a CSR; the printed ``openssl`` command signs
  it and the shipped broker lets the box in with that certificate;
- the service reads systemd's copies of the credentials folder; config check names a mismatched CA key
  (of any key type).
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import shutil
import stat
import subprocess
import sys
from contextlib import closing

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud_aggregator.device_certs import CSR_MAX_CHARS, ClientCA, CsrError, check_csr
from edge_agent.device_cert import csr_pem, new_key_pem
from tests._broker import can_login, start_shipped_mosquitto
from tests._dashboard_helpers import PASSWORDS, DashServer, agg_config, copy_db, make_client, template_db
from tests._ops_pki import make_pki
from tests._procs import wait_for

pytestmark = pytest.mark.security
DEV = "cp-north-r101"
GOOD = csr_pem(new_key_pem(), DEV)
P256 = ec.generate_private_key(ec.SECP256R1())


def _csr(key, subject: x509.Name, ca: bool = False) -> str:  # noqa: ANN001
    b = x509.CertificateSigningRequestBuilder().subject_name(subject)
    if ca:
        b = b.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def _cn(*names: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, n) for n in names])


def _mutations() -> st.SearchStrategy[str]:
    body = GOOD.splitlines()
    flip = st.tuples(st.integers(1, len(body) - 2), st.integers(0, 63), st.sampled_from("A/+=x-\n ")).map(
        lambda t: "\n".join(b if i != t[0] else b[:t[1]] + t[2] + b[t[1] + 1:] for i, b in enumerate(body)))
    other_cn = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=16).map(  # ≤ 64 B
        lambda t: _csr(P256, _cn(t)))
    return st.one_of(st.text(max_size=600), flip, other_cn,
                     st.just(GOOD * 2), st.just(GOOD + "x"), st.just(GOOD.replace("REQUEST", "REQUES")),
                     st.text(min_size=1, max_size=20).map(lambda t: GOOD[:-40] + t + GOOD[-40:]))


@settings(max_examples=400, deadline=None)
@given(_mutations(), st.sampled_from([DEV, "cp-other", "aggregator"]))
def test_any_csr_text_is_a_csr_for_exactly_that_device_or_a_one_line_refusal(text, device):
    try:
        csr = check_csr(text, device)
    except CsrError as e:
        assert "\n" not in str(e) and 0 < len(str(e)) <= 300
    else:
        assert [a.value for a in csr.subject] == [device] and csr.is_signature_valid


def test_check_csr_refusals_say_why():
    p256, p384 = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP384R1())
    cases = {
        "longer than": GOOD + " " * CSR_MAX_CHARS,
        "one PEM": "hello",
        "not a valid certificate request": GOOD.replace(GOOD.splitlines()[3], "A" * 64),
        "exactly CN=cp-north-r101": _csr(p256, _cn("cp-north-r102")),
        "must be exactly": _csr(p256, _cn(DEV, "extra")),
        "EC P-256": _csr(p384, _cn(DEV)),
    }
    cases["EC P-256 "] = _csr(rsa.generate_private_key(public_exponent=65537, key_size=2048), _cn(DEV))
    for words, pem in cases.items():
        with pytest.raises(CsrError, match=words.strip()):
            check_csr(pem, DEV)
    assert check_csr(GOOD, DEV).subject == _cn(DEV)


@pytest.fixture
def aggregator(tmp_path):
    """The real app (store, routes, enrolment) with a client CA; the broker files are plain files here."""
    from cloud_aggregator.config import AggregatorConfig
    from cloud_aggregator.store import open_store

    pki = make_pki(tmp_path / "pki", [])
    tmpl = template_db(tmp_path / "tmpl")
    base = agg_config(copy_db(tmpl, tmp_path / "agg.db"), tmpl["key"]).model_dump(mode="json")
    pw, acl = tmp_path / "devices.passwd", tmp_path / "devices.acl"
    pw.write_text("")
    base["enrolment"] = {"broker_host": "127.0.0.1", "broker_port": 8883, "password_file": str(pw),
                         "acl_file": str(acl), "ca_file": str(pki / "ca.crt"),
                         "client_ca_cert": str(pki / "ca.crt"), "client_ca_key": str(pki / "ca.key")}

    def start(client_ca: bool = True):
        cfg = dict(base, enrolment={k: v for k, v in base["enrolment"].items()
                                    if client_ca or not k.startswith("client_ca")})
        conf = AggregatorConfig.model_validate(cfg)
        store = open_store(conf.store)
        _app, factory = make_client(store, conf)
        c = factory()
        c.headers["X-CSRF-Token"] = c.post("/api/login", json={"username": "it", "password": PASSWORDS["it"]}
                                           ).json()["csrf"]
        opened.append((c, store))
        return c, store
    opened: list = []
    yield start, pki, pw, acl
    for c, store in opened:
        c.close()
        store.close()


def test_enrol_refuses_bad_csrs_and_stores_nothing_then_signs_the_good_one(aggregator):
    start, pki, pw, acl = aggregator
    c, store = start()
    r = c.post("/api/fleet/tokens", json={"site": "north", "room": "r101", "device": DEV, "ttl_h": 1})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    acl_before = acl.read_text() if acl.exists() else None

    def nothing_stored() -> None:
        assert pw.read_text() == "", "no broker password written"
        assert (acl.read_text() if acl.exists() else None) == acl_before, "device ACL untouched"
        assert not [d for d in store.devices() if d["device"] == DEV], "no device registered"

    p256 = ec.generate_private_key(ec.SECP256R1())
    bad = {"oversized": "-----BEGIN CERTIFICATE REQUEST-----\n" + "A" * (CSR_MAX_CHARS + 10),
           "garbage": "not a csr", "wrong CN": _csr(p256, _cn("cp-north-r102")),
           "aggregator CN": _csr(p256, _cn("aggregator")), "missing": None,
           "P-384": _csr(ec.generate_private_key(ec.SECP384R1()), _cn(DEV))}

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.one_of(st.sampled_from(list(bad.values())), _mutations().filter(lambda t: t != GOOD)))
    def refused(csr: str | None) -> None:
        try:
            check_csr(csr or "", DEV)
            return  # a mutation that is still a good CSR for DEV (e.g. whitespace): not a refusal case
        except CsrError:
            pass
        r = c.post("/api/enrol", json={"token": token, **({"csr_pem": csr} if csr is not None else {})})
        assert r.status_code == 422, (r.status_code, r.text)
        assert isinstance(r.json()["detail"], str | list) and "Traceback" not in r.text
        nothing_stored()

    refused()
    for name, csr in bad.items():  # each named case at least once, whatever hypothesis drew
        r = c.post("/api/enrol", json={"token": token, **({"csr_pem": csr} if csr is not None else {})})
        assert r.status_code == 422, (name, r.text)
    nothing_stored()

    key = ec.generate_private_key(ec.SECP256R1())
    r = c.post("/api/enrol", json={"token": token, "csr_pem": _csr(key, _cn(DEV), ca=True)})
    assert r.status_code == 200, r.text
    cert = x509.load_pem_x509_certificate(r.json()["mqtt"]["cert_pem"].encode())
    ca = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    cert.verify_directly_issued_by(ca)
    assert cert.subject == _cn(DEV) and cert.public_key() == key.public_key()
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False, "CSR's CA ask ignored"
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == \
        [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cert.not_valid_after_utc <= ca.not_valid_after_utc
    assert DEV in pw.read_text() and DEV in acl.read_text(), "enrolled now"
    r = c.post("/api/enrol", json={"token": token, "csr_pem": _csr(key, _cn(DEV))})
    assert r.status_code == 403, "the token worked once"


def test_without_a_client_ca_a_csr_is_ignored_as_before(aggregator, tmp_path):
    from edge_agent.enroll import write_device_files

    start, _pki, pw, _acl = aggregator
    c, _store = start(client_ca=False)
    token = c.post("/api/fleet/tokens", json={"site": "north", "room": "r101", "device": DEV}).json()["token"]
    key = new_key_pem()
    r = c.post("/api/enrol", json={"token": token, "csr_pem": csr_pem(key, DEV)})
    assert r.status_code == 200 and "cert_pem" not in r.json()["mqtt"], r.text
    cfg = write_device_files(r.json(), tmp_path / "box", key)
    assert not (tmp_path / "box" / "credentials" / "mqtt-client.key").exists()
    assert "cert_file" not in (cfg.read_text())


def test_offline_enrolment_csr_signed_by_the_printed_command_opens_the_shipped_broker(tmp_path):
    pki = make_pki(tmp_path / "pki", [])
    b = start_shipped_mosquitto(tmp_path / "mosquitto", pki)
    out = tmp_path / "box"
    try:
        r = subprocess.run([sys.executable, "-m", "edge_agent.cli", "enroll", "--device-id", "cp-south-r2",
                            "--site", "south", "--room", "r2", "--broker", f"127.0.0.1:{b.devices_port}",
                            "--ca", str(pki / "ca.crt"), "--out", str(out)], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stderr
        res = json.loads(r.stdout.strip().splitlines()[-1])
        key = out / "credentials" / "mqtt-client.key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600 and (out / "mqtt-client.csr").is_file()
        assert key.read_text() not in r.stdout + (out / "broker-setup.txt").read_text()
        cmd = next(ln.strip() for ln in r.stdout.splitlines() if ln.strip().startswith("openssl "))
        assert len(cmd) < 160, "short enough to type"
        ca_dir = tmp_path / "it"  # IT's machine with the client CA, named as the command expects
        ca_dir.mkdir()
        shutil.copy(pki / "ca.crt", ca_dir / "client-ca.crt")
        shutil.copy(pki / "ca.key", ca_dir / "client-ca.key")
        shutil.copy(out / "mqtt-client.csr", ca_dir)
        s = subprocess.run(shlex.split(cmd), cwd=ca_dir, capture_output=True, text=True, timeout=60)
        assert s.returncode == 0, s.stderr
        shutil.copy(ca_dir / "cp-south-r2.crt", out / "credentials" / "mqtt-client.crt")

        (b.etc / "classpulse-devices.passwd").write_text(res["broker_passwd_line"] + "\n")
        b.reload()
        secret = (out / "credentials" / "mqtt-password").read_text()
        tls = (out / "ca.crt", out / "credentials" / "mqtt-client.crt", key)
        assert wait_for(lambda: can_login(b.devices_port, "cp-south-r2", secret, tls=tls), 10)
        assert not can_login(b.devices_port, "cp-south-r2", secret, tls=(out / "ca.crt", None, None))
        chk = subprocess.run([sys.executable, "-m", "edge_agent.cli", "config", "check", str(out / "agent.yaml")],
                             capture_output=True, text=True, timeout=60)
        assert chk.returncode == 0, chk.stdout + chk.stderr
    finally:
        b.stop()


def test_the_service_reads_systemds_copies_of_credentials_it_cannot_read(tmp_path, monkeypatch):
    """The unit passes /etc/classpulse/credentials whole (LoadCredential=classpulse:…); the dynamic user
    cannot read the originals (root's, 0700), so the agent uses $CREDENTIALS_DIRECTORY/classpulse_<name>."""
    from edge_agent.config import AgentConfig

    creds = tmp_path / "run-credentials"
    creds.mkdir()
    for name in ("mqtt-password", "mqtt-client.key", "mqtt-client.crt"):
        (creds / f"classpulse_{name}").write_text("x")
    gone = tmp_path / "root-only" / "credentials"  # unreadable for the service: here, absent
    readable = tmp_path / "ca.crt"
    readable.write_text("ca")
    mqtt = {"password_file": str(gone / "mqtt-password"),
            "tls": {"ca_file": str(readable), "cert_file": str(gone / "mqtt-client.crt"),
                    "key_file": str(gone / "mqtt-client.key")}}
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    m = AgentConfig.model_validate({"mqtt": mqtt}).mqtt
    assert m.password_file == creds / "classpulse_mqtt-password"
    assert (m.tls.cert_file, m.tls.key_file) == (creds / "classpulse_mqtt-client.crt", creds / "classpulse_mqtt-client.key")
    assert m.tls.ca_file == readable, "a file the service can read is used as named"
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    assert AgentConfig.model_validate({"mqtt": mqtt}).mqtt.password_file == gone / "mqtt-password", "outside systemd"


def test_config_check_names_a_client_ca_key_that_is_not_the_certificates(tmp_path):
    from cloud_aggregator.config import AggregatorConfig
    from cloud_aggregator.config_check import problems

    a, b = make_pki(tmp_path / "a", []), make_pki(tmp_path / "b", [])

    def check(key: str) -> list[str]:
        return problems(AggregatorConfig.model_validate({"store": {"path": str(tmp_path / "x.db")}, "enrolment": {
            "ca_file": str(a / "ca.crt"), "client_ca_cert": str(a / "ca.crt"), "client_ca_key": key}}))
    assert not [p for p in check(str(a / "ca.key")) if "client_ca" in p]
    assert [p for p in check(str(b / "ca.key")) if p.startswith("enrolment.client_ca_key:") and "not the key" in p]
    assert [p for p in check(str(tmp_path / "missing.key")) if p.startswith("enrolment.client_ca_key")]
    with pytest.raises(ValueError, match="go together"):
        AggregatorConfig.model_validate({"enrolment": {"ca_file": str(a / "ca.crt"), "client_ca_cert": str(a / "ca.crt")}})


def test_a_client_ca_certificate_with_an_ed25519_key_is_a_mismatch_not_a_crash(tmp_path):
    """The EC key beside an Ed25519 CA certificate was compared through ``public_numbers``, which Ed25519 keys
    lack: config check crashed with AttributeError instead of naming the mismatch."""
    a = make_pki(tmp_path / "a", [])
    ed = ed25519.Ed25519PrivateKey.generate()
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_cn("ed CA")).issuer_name(_cn("ed CA")).public_key(ed.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1)).sign(ed, None))
    (tmp_path / "ed.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(ValueError, match="is not the key of"):
        ClientCA(tmp_path / "ed.crt", a / "ca.key", 30)

def test_enroll_with_server_and_device_id_gets_a_certificate_the_shipped_broker_takes(tmp_path):
    """``edge-agent enroll --server … --device-id …`` as its own process against the real aggregator (http) and
    the shipped two-listener broker with TLS: the box's key stays on it, its certificate opens the device port."""
    from cloud_aggregator.config import AggregatorConfig
    from tests._broker import free_port

    pki = make_pki(tmp_path / "pki", [])
    b = start_shipped_mosquitto(tmp_path / "mosquitto", pki)
    tmpl = template_db(tmp_path / "tmpl")
    base = agg_config(copy_db(tmpl, tmp_path / "agg.db"), tmpl["key"]).model_dump(mode="json")
    port = free_port()
    base.update(web={"host": "127.0.0.1", "port": port}, enrolment={
        "broker_host": "127.0.0.1", "broker_port": b.devices_port, "ca_file": str(pki / "ca.crt"),
        "password_file": str(b.etc / "classpulse-devices.passwd"), "acl_file": str(b.etc / "classpulse-devices.acl"),
        "mosquitto_pid_file": str(b.pid_file), "client_ca_cert": str(pki / "ca.crt"),
        "client_ca_key": str(pki / "ca.key")})
    srv = DashServer.of(AggregatorConfig.model_validate(base), ingest=False).start()
    url, out = srv.url, tmp_path / "box"
    try:
        with closing(srv.login("it")) as c:
            token = c.post("/api/fleet/tokens", json={"site": "north", "room": "r101", "device": DEV}).json()["token"]

        def enroll(*extra: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "edge_agent.cli", "enroll", "--server", url, "--out",
                                   str(out), *extra], input=token + "\n", capture_output=True, text=True, timeout=60)
        r = enroll()
        assert r.returncode == 2 and "422" in r.stderr and "--device-id" in r.stderr, r.stderr
        assert not (out / "credentials" / "mqtt-password").exists(), "refused: nothing written, token kept"
        r = enroll("--device-id", DEV)
        assert r.returncode == 0, r.stderr
        key, crt = out / "credentials" / "mqtt-client.key", out / "credentials" / "mqtt-client.crt"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        conf = yaml.safe_load((out / "agent.yaml").read_text())
        assert conf["mqtt"]["tls"] == {"ca_file": str(out / "ca.crt"), "cert_file": str(crt), "key_file": str(key)}
        secret = (out / "credentials" / "mqtt-password").read_text()
        assert wait_for(lambda: can_login(b.devices_port, DEV, secret, tls=(out / "ca.crt", crt, key)), 10)
        chk = subprocess.run([sys.executable, "-m", "edge_agent.cli", "config", "check", str(out / "agent.yaml")],
                             capture_output=True, text=True, timeout=60)
        assert chk.returncode == 0, chk.stdout + chk.stderr
    finally:
        srv.stop()
        b.stop()
