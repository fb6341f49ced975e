"""Device enrolment: a one-time token (issued in the fleet view) becomes the device's broker credentials.

The device sends the token once (``edge-agent enroll``); the aggregator redeems it (atomic, one use,
expiring), registers the device in its room, generates a random MQTT password, adds the device to
Mosquitto's password file in Mosquitto's own PBKDF2-SHA512 format and asks Mosquitto to reload it
(SIGHUP via its pid file). The password leaves the aggregator only in that one response. The device
listener's ACL is regenerated from the registry (``device_registry.write_acl``) before the reload, so
the new device may write only its own ``<site>/<room>/<device>`` topics. This password file is the
device namespace only: the aggregator's own broker account lives in the service listener's file,
which this code never writes, and reserved names are refused here as well as when the token is issued.

With ``client_ca_cert``/``client_ca_key`` set, the request also carries the box's CSR and the answer its
client certificate (``device_certs``: checked and signed before the token is redeemed).

Limits: the aggregator must share a host (or the file) with Mosquitto; a district with a broker
cluster provisions credentials through the cluster's own API instead (docs/scaling.md). Run it over
https: the response carries a secret.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classpulse_contract.broker_auth import mosquitto_hash  # one format for the box and the aggregator
from cloud_aggregator.config.enrolment import EnrolmentConfig

if TYPE_CHECKING:
    from cloud_aggregator.store import Store


def set_broker_password(password_file: Path, username: str, password: str) -> None:
    """Add or replace ``username`` in Mosquitto's password file (locked; rewritten atomically)."""
    password_file = Path(password_file)
    password_file.parent.mkdir(parents=True, exist_ok=True)
    lock = password_file.with_suffix(password_file.suffix + ".lock")
    with lock.open("w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        lines = password_file.read_text(encoding="utf-8").splitlines() if password_file.exists() else []
        kept = [ln for ln in lines if ln and ln.split(":", 1)[0] != username]
        kept.append(f"{username}:{mosquitto_hash(password)}")
        tmp = password_file.with_suffix(password_file.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(kept) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, password_file)


def reload_mosquitto(pid_file: Path | None) -> bool:
    """SIGHUP Mosquitto so it re-reads its password file; False when there is no pid to signal."""
    if pid_file is None or not Path(pid_file).exists():
        return False
    try:
        os.kill(int(Path(pid_file).read_text().strip()), signal.SIGHUP)
    except (ValueError, ProcessLookupError, PermissionError):
        return False
    return True


def enrol(store: Store, token: str, cfg: EnrolmentConfig,
          reserved: frozenset[str] = frozenset(), csr_pem: str | None = None) -> dict[str, Any]:
    """Redeem ``token`` and return the device's identity and broker credentials (raises TokenError), and
    with a client CA configured the certificate for ``csr_pem`` (raises CsrError before redeeming anything)."""
    from cloud_aggregator.device_certs import ClientCA, CsrError, check_csr
    from cloud_aggregator.device_registry import name_problem, sync_broker
    from cloud_aggregator.store.base import TokenError
    from cloud_aggregator.store.devices import token_device

    if cfg.password_file is None or cfg.broker_host is None:
        raise RuntimeError("enrolment is not configured on this aggregator (enrolment.password_file, broker_host)")
    named = token_device(store, token)
    problem = name_problem(named, reserved) if named is not None else None
    if problem:  # a token issued before names were checked: refused before it registers or writes anything
        raise TokenError(problem)
    cert_pem = None
    if cfg.client_ca_files is not None and named is not None:  # unknown token: redeem_token refuses it below
        if not csr_pem:
            raise CsrError("this aggregator issues device certificates: send csr_pem (edge-agent enroll "
                           "--device-id <the token's device>, or first boot)")
        ca = ClientCA(*cfg.client_ca_files, cfg.client_cert_days)
        cert_pem = ca.sign(check_csr(csr_pem, named))
    e = store.redeem_token(token)
    password = secrets.token_urlsafe(24)
    set_broker_password(cfg.password_file, e.device, password)
    reloaded = sync_broker(store, cfg)
    mqtt: dict[str, str | int] = {"host": cfg.broker_host, "port": cfg.broker_port, "username": e.device,
                                  "password": password}
    if cfg.ca_file is not None:
        mqtt["ca_pem"] = Path(cfg.ca_file).read_text(encoding="utf-8")
    if cert_pem is not None:
        mqtt["cert_pem"] = cert_pem
    return {"device": e.device, "site": e.site, "room": e.room, "mqtt": mqtt, "broker_reloaded": reloaded}
