"""``edge-agent enroll``: this box's identity and broker login, written where the service reads them.

With the aggregator (one-time token from the fleet view)::

    edge-agent enroll --server https://aggregator.school.example --token <token> \
        [--device-id cp-north-r101] --out /etc/classpulse

Without it (a broker the school runs by hand)::

    edge-agent enroll --device-id cp-north-r101 --site north --room r101 \\
        --broker mqtt.school.example:8883 --ca ca.crt --out /etc/classpulse [--password-file FILE]

Both write (creating or updating) ``<out>/agent.yaml`` (device id, site, room, broker host/port/user,
TLS CA) and ``<out>/credentials/mqtt-password`` (mode 0600; systemd hands it to the service with
``LoadCredential=``), and ``<out>/ca.crt`` when there is a CA. Everything else in an existing
agent.yaml is kept. The token works once; a second try is refused by the aggregator. Without the
aggregator a random password is generated (or taken from ``--password-file``) and the line for
Mosquitto's password file is printed and written to ``<out>/broker-setup.txt``; it holds the
password's salted hash, never the password.

Client certificates (the shipped broker requires one): the box makes its EC P-256 key here and writes it
to ``<out>/credentials/mqtt-client.key`` (0600); it never leaves the box. With ``--server --device-id``
the request carries a CSR for ``CN=<device id>`` and an aggregator with a client CA answers with the
certificate (``credentials/mqtt-client.crt``). Offline with ``--ca``, the CSR is left in
``<out>/mqtt-client.csr`` and the steps print the one ``openssl`` command that signs it.
"""

from __future__ import annotations

import argparse
import json
import secrets
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

from classpulse_contract.broker_auth import mosquitto_hash
from edge_agent.config import AgentConfig
from edge_agent.device_cert import (
    CERT_NAME,
    CSR_NAME,
    KEY_NAME,
    cert_matches_key,
    csr_pem,
    new_key_pem,
    write_secret,
)


class EnrolmentRefused(OSError):
    """The aggregator answered and said no (``status``: its HTTP code); not a network failure."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"enrolment refused ({status}): {detail}")
        self.status = status


def request_enrolment(server: str, token: str, timeout: float = 30.0, cafile: str | None = None,
                      csr: str | None = None) -> dict:
    """POST the token to ``<server>/api/enrol``; a refusal raises EnrolmentRefused with the server's reason.

    ``cafile``: the CA that signed the aggregator's https certificate (a school CA the box does not yet trust);
    ``csr``: this box's certificate request (device_cert.csr_pem), signed when the aggregator has a client CA.
    """
    url = server.rstrip("/") + "/api/enrol"
    if urllib.parse.urlparse(url).scheme not in ("https", "http"):
        raise ValueError("--server must be an https:// (or, on a lab network, http://) URL")
    body = {"token": token, **({"csr_pem": csr} if csr else {})}
    req = urllib.request.Request(url, data=json.dumps(body).encode(),  # noqa: S310 - scheme checked
                                 headers={"Content-Type": "application/json"}, method="POST")
    ctx = ssl.create_default_context(cafile=cafile) if cafile else None
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:  # noqa: S310
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        try:
            detail = json.loads(e.read()).get("detail", "")
        except (ValueError, AttributeError):
            detail = ""
        raise EnrolmentRefused(e.code, detail or str(e.reason)) from None


def write_device_files(resp: dict, out: Path, key_pem: bytes | None = None) -> Path:
    """Merge the enrolment into ``out/agent.yaml`` and write the credential files; returns the config path.

    ``key_pem``: this box's client key; written (0600, ``credentials/mqtt-client.key``) with the certificate the
    answer carries (``mqtt.cert_pem``), or with the CSR an offline enrolment leaves for IT (``csr_pem``).
    """
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = out / "agent.yaml"
    data = yaml.safe_load(cfg_path.read_text(encoding="utf-8")) if cfg_path.exists() else {}
    data = data or {}
    data["device"] = {**(data.get("device") or {}), "id": resp["device"], "site": resp["site"], "room": resp["room"]}
    creds = out / "credentials"
    creds.mkdir(mode=0o700, exist_ok=True)
    pw = creds / "mqtt-password"
    write_secret(pw, resp["mqtt"]["password"].encode("utf-8"))
    mqtt = {**(data.get("mqtt") or {}), "host": resp["mqtt"]["host"], "port": resp["mqtt"]["port"],
            "username": resp["mqtt"]["username"], "password_file": str(pw)}
    if resp["mqtt"].get("ca_pem"):
        (out / "ca.crt").write_text(resp["mqtt"]["ca_pem"], encoding="utf-8")
        mqtt["tls"] = {**(mqtt.get("tls") or {}), "ca_file": str(out / "ca.crt")}
    cert_pem = resp["mqtt"].get("cert_pem")
    if key_pem is not None and (cert_pem or resp.get("csr_pem")):
        if "tls" not in mqtt:
            raise ValueError("a client certificate needs TLS: the answer has no CA (enrolment.ca_file / --ca)")
        if cert_pem and (why := cert_matches_key(cert_pem, key_pem, resp["device"])):
            raise ValueError(why)
        write_secret(creds / KEY_NAME, key_pem)
        if cert_pem:
            write_secret(creds / CERT_NAME, cert_pem.encode("ascii"))
        else:
            (out / CSR_NAME).write_text(resp["csr_pem"], encoding="utf-8")
        mqtt["tls"].update(cert_file=str(creds / CERT_NAME), key_file=str(creds / KEY_NAME))
    data["mqtt"] = mqtt
    AgentConfig.model_validate(data)  # never leave a config the agent would refuse
    tmp = cfg_path.with_suffix(".yaml.tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    tmp.replace(cfg_path)
    return cfg_path


#: Shortest password accepted from --password-file (generated ones are 32 URL-safe characters).
MIN_PASSWORD_LEN = 16


def parse_broker(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` too) → (host, port); a plain error otherwise."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"--broker {value!r}: expected HOST:PORT, e.g. mqtt.school.example:8883")
    return host, int(port)


def offline_enrolment(device: str, site: str, room: str, broker: str, password_file: Path | None,
                      ca_file: Path | None) -> dict:
    """The same answer the aggregator gives, made on the box: a new random password unless one is given."""
    host, port = parse_broker(broker)
    if password_file is not None:
        password = Path(password_file).read_text(encoding="utf-8").strip()
        if len(password) < MIN_PASSWORD_LEN:
            raise ValueError(f"the password in {password_file} is shorter than {MIN_PASSWORD_LEN} characters")
    else:
        password = secrets.token_urlsafe(24)
    ca_pem = Path(ca_file).read_text(encoding="utf-8") if ca_file is not None else None
    return {"device": device, "site": site, "room": room,
            "mqtt": {"host": host, "port": port, "username": device, "password": password, "ca_pem": ca_pem}}


def sign_command(device: str, csr: Path, days: int = 825) -> str:
    """The one command IT runs on the machine holding the client CA (files named as IT keeps them)."""
    return (f"openssl x509 -req -in {csr.name} -CA client-ca.crt -CAkey client-ca.key -CAcreateserial "
            f"-days {days} -sha256 -out {device}.crt")


def broker_instructions(resp: dict, cfg_path: Path) -> tuple[str, str]:
    """(the password-file line, the steps for whoever runs the broker)."""
    dev = resp["device"]
    line = f"{dev}:{mosquitto_hash(resp['mqtt']['password'])}"
    if resp.get("csr_pem"):
        csr = cfg_path.parent / CSR_NAME
        certs = (f"3. The broker requires a client certificate: copy {csr} (the request; this box's key\n"
                 f"   never leaves it) to the client CA, sign it there:\n\n   {sign_command(dev, csr)}\n\n"
                 f"   and put {dev}.crt on this box as {cfg_path.parent}/credentials/{CERT_NAME}.\n")
    else:
        certs = "3. (No --ca: no TLS, no client certificate. The shipped broker needs both.)\n"
    steps = f"""Broker set-up for device {dev} ({resp['site']}/{resp['room']})

1. On the broker, append this line to the device listener's password file
   (e.g. /etc/mosquitto/classpulse-devices.passwd);
   it is a salted PBKDF2-SHA512 hash, not the password:

   {line}

   (or run `mosquitto_passwd /etc/mosquitto/classpulse-devices.passwd {dev}` and type the password from
   {cfg_path.parent}/credentials/mqtt-password, which never leaves this box otherwise)
2. Register {dev} in {resp['site']}/{resp['room']} on the aggregator (devices.yaml or the fleet view) and
   write the device ACL from its registry (`cloud-aggregator device-acl --config … --out
   /etc/mosquitto/classpulse-devices.acl`): it pins user {dev} to its own room's topics, and the
   aggregator refuses messages from devices it does not know. Then reload Mosquitto:
   `systemctl reload mosquitto` (or `kill -HUP <pid>`).
{certs}4. On this box: `edge-agent check --config {cfg_path}` must list broker as ok.
"""
    return line, steps


def main(args: argparse.Namespace) -> int:
    try:
        key_pem = new_key_pem() if args.device_id else None
        if args.server:
            token = args.token or sys.stdin.readline().strip()
            resp = request_enrolment(args.server, token, csr=csr_pem(key_pem, args.device_id) if key_pem else None)
        else:
            if not (args.device_id and args.site and args.room and args.broker):
                raise ValueError("--device-id needs --site, --room and --broker (or use --server with a token)")
            resp = offline_enrolment(args.device_id, args.site, args.room, args.broker,
                                     Path(args.password_file) if args.password_file else None,
                                     Path(args.ca) if args.ca else None)
            if args.ca:  # TLS: the shipped broker also wants a client certificate, signed by IT from this CSR
                resp["csr_pem"] = csr_pem(key_pem, args.device_id)
        cfg_path = write_device_files(resp, Path(args.out), key_pem)
    except (OSError, ValueError, KeyError) as e:
        print(f"enrolment failed: {e}", file=sys.stderr)
        return 2
    if not args.server:
        line, steps = broker_instructions(resp, cfg_path)
        (cfg_path.parent / "broker-setup.txt").write_text(steps, encoding="utf-8")
        print(steps)
        print(json.dumps({"ok": True, "device": resp["device"], "site": resp["site"], "room": resp["room"],
                          "config": str(cfg_path), "broker": f"{resp['mqtt']['host']}:{resp['mqtt']['port']}",
                          "broker_passwd_line": line, "instructions": str(cfg_path.parent / "broker-setup.txt")}))
        return 0
    print(json.dumps({"ok": True, "device": resp["device"], "site": resp["site"], "room": resp["room"],
                      "config": str(cfg_path), "broker": f"{resp['mqtt']['host']}:{resp['mqtt']['port']}",
                      "broker_reloaded": resp.get("broker_reloaded")}))
    return 0


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--server", help="the aggregator's dashboard URL (enrol with a one-time token)")
    ap.add_argument("--device-id", help="this device's id (also its broker user); alone: enrol without the "
                    "aggregator; with --server: the token's device, so that the box sends a CSR for it and gets "
                    "a client certificate where the aggregator signs them")
    ap.add_argument("--token", help="one-time enrolment token (read from stdin when left out)")
    ap.add_argument("--site", help="with --device-id: the site id")
    ap.add_argument("--room", help="with --device-id: the room id")
    ap.add_argument("--broker", help="with --device-id: HOST:PORT as this box reaches the broker")
    ap.add_argument("--ca", help="with --device-id: the broker's CA certificate (turns TLS on)")
    ap.add_argument("--password-file", help=f"with --device-id: use this password (≥ {MIN_PASSWORD_LEN} chars) "
                    "instead of generating one")
    ap.add_argument("--out", default="/etc/classpulse", help="config directory (default /etc/classpulse)")
