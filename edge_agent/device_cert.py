"""The box's TLS client identity: an EC P-256 key made here (it never leaves the box) and its CSR.

Why: the shipped broker's device listener requires a client certificate. The box sends only a
certificate request (CN = its device id) with its enrolment token; the aggregator (or IT, for an
offline enrolment) signs it. The key is written 0600 before anything is sent, so a box that lost the
answer can reuse the same key with the answer kept by first boot.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

KEY_NAME, CERT_NAME, CSR_NAME = "mqtt-client.key", "mqtt-client.crt", "mqtt-client.csr"


def write_secret(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` 0600 from the first byte, atomically (never world-readable, never half)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def new_key_pem() -> bytes:
    """A fresh EC P-256 private key, PKCS#8 PEM, unencrypted (file mode protects it; systemd passes it on)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_or_create_key(path: Path) -> bytes:
    """The key in ``path``, made (0600) when absent: one key per box until it is enrolled."""
    if path.is_file():
        return path.read_bytes()
    pem = new_key_pem()
    write_secret(path, pem)
    return pem


def csr_pem(key_pem: bytes, device: str) -> str:
    """A certificate request for ``CN=<device>`` signed with the key (the only subject the aggregator signs)."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device)]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def cert_matches_key(cert_pem: str, key_pem: bytes, device: str) -> str | None:
    """None when the certificate is for this key and ``CN=<device>``; else why not (one line)."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return "the aggregator's client certificate is not a PEM certificate"
    key = serialization.load_pem_private_key(key_pem, password=None)
    if cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) != \
            key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
        return "the aggregator's client certificate is not for this box's key"
    cns = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if cns != [device]:
        return f"the client certificate is for {cns}, not CN={device}"
    return None
