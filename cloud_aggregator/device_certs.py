"""Device client certificates: the aggregator signs a box's CSR at enrolment with the school's client CA.

Why: the shipped broker's device listener requires a client certificate (``require_certificate true``)
as well as the device's password. The box makes its EC P-256 key itself and sends only a CSR, so the
private key never leaves the box; the aggregator checks the CSR (size, PEM, self-signature, key type,
subject = exactly ``CN=<the token's device>``) and signs a client-auth-only leaf. The CSR's requested
extensions are ignored: what the certificate may do is decided here, not by the request.

Everything here runs before the token is redeemed: a refused CSR leaves the token, the registry and the
broker files as they were.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: A P-256 CSR in PEM is ~ 500 bytes; anything much larger is not one of ours.
CSR_MAX_CHARS = 4096
_BEGIN, _END = "-----BEGIN CERTIFICATE REQUEST-----", "-----END CERTIFICATE REQUEST-----"


class CsrError(ValueError):
    """The CSR is refused (HTTP 422); the message says why in one line."""


def check_csr(pem: str, device: str) -> x509.CertificateSigningRequest:
    """The parsed CSR when it is a well-formed, self-signed EC P-256 request for exactly ``CN=device``."""
    if len(pem) > CSR_MAX_CHARS:
        raise CsrError(f"csr_pem is longer than {CSR_MAX_CHARS} characters")
    text = pem.strip()
    if not (text.startswith(_BEGIN) and text.endswith(_END)) or text.count(_BEGIN) != 1:
        raise CsrError("csr_pem must be one PEM 'CERTIFICATE REQUEST' block")
    try:
        csr = x509.load_pem_x509_csr(text.encode("ascii"))
        key = csr.public_key()
        signed = csr.is_signature_valid
        attrs = list(csr.subject)
    except (ValueError, TypeError, UnicodeEncodeError, UnsupportedAlgorithm):
        raise CsrError("csr_pem is not a valid certificate request") from None
    if not signed:
        raise CsrError("the CSR's signature does not verify (it must be signed with its own key)")
    if not (isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)):
        raise CsrError("the CSR's key must be EC P-256 (edge-agent makes one)")
    if len(attrs) != 1 or attrs[0].oid != NameOID.COMMON_NAME or attrs[0].value != device:
        got = ", ".join(a.rfc4514_string() for a in attrs).encode("unicode_escape").decode("ascii") or "empty"
        raise CsrError(f"the CSR's subject must be exactly CN={device} (the token's device), not {got}"[:300])
    return csr


class ClientCA:
    """The client CA's certificate and key (read once; the key file stays on the aggregator, 0600)."""

    def __init__(self, cert_file: Path, key_file: Path, days: int) -> None:
        self.cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
        try:
            key = serialization.load_pem_private_key(Path(key_file).read_bytes(), password=None)
        except (TypeError, UnsupportedAlgorithm) as e:  # TypeError: an encrypted key
            raise ValueError(f"{key_file}: not an unencrypted PEM private key ({e})") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise ValueError(f"{key_file}: the client CA key must be EC or RSA")
        if key.public_key() != self.cert.public_key():  # any key type, e.g. an Ed25519 CA certificate
            raise ValueError(f"{key_file} is not the key of {cert_file}")
        self.key, self.days = key, days

    def sign(self, csr: x509.CertificateSigningRequest) -> str:
        """A client-auth leaf for the CSR's key and subject, valid ``days`` (never past the CA's own end); PEM."""
        now = dt.datetime.now(dt.timezone.utc)
        end = min(now + dt.timedelta(days=self.days), self.cert.not_valid_after_utc)
        ski = x509.SubjectKeyIdentifier.from_public_key(self.cert.public_key())
        cert = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(self.cert.subject)
                .public_key(csr.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(end)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                             crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(csr.public_key()), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
                .sign(self.key, hashes.SHA256()))
        return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")

