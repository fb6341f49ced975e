"""Record keys: one secret from config/credentials → Fernet key (names, contacts) + HMAC key (pseudonyms).

Pseudonyms are keyed HMACs so an analytics table cannot be joined back to a student list without
the secret; the same secret gives the same pseudonym on every import, which keeps re-imports
idempotent and lets analytics tables from different importers line up.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cloud_aggregator.config.records import RecordsConfig

ENV_KEY = "CLASSPULSE_RECORDS_KEY"
ENV_KEY_FILE = "CLASSPULSE_RECORDS_KEY_FILE"


class RecordsKeyError(Exception):
    """No usable records key (missing, unreadable, wrong length, or not the key of this database)."""


def _derive(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"classpulse-records", info=info).derive(secret)


@dataclass(frozen=True)
class RecordsKeys:
    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) < 32:
            raise RecordsKeyError("records secret must be at least 32 bytes")

    @cached_property
    def _fernet(self) -> Fernet:
        return Fernet(base64.urlsafe_b64encode(_derive(self.secret, b"fernet v1")))

    @cached_property
    def _hmac_key(self) -> bytes:
        return _derive(self.secret, b"pseudonym v1")

    @property
    def fingerprint(self) -> str:
        """Stored in the database so a different key is caught before pseudonyms diverge."""
        return hashlib.sha256(_derive(self.secret, b"fingerprint v1")).hexdigest()[:16]

    @cached_property
    def _pseudonyms(self) -> dict[tuple[str, str], str]:
        return {}

    def pseudonym(self, source_id: str, namespace: str = "user") -> str:
        key = (namespace, source_id)
        got = self._pseudonyms.get(key)
        if got is None:
            mac = hmac.new(self._hmac_key, f"{namespace}\x1f{source_id}".encode(), hashlib.sha256)
            got = "p_" + mac.hexdigest()[:24]
            if len(self._pseudonyms) < 2_000_000:  # memo bounded: a school has far fewer users
                self._pseudonyms[key] = got
        return got

    def row_hash(self, values: dict[str, Any]) -> str:
        """Keyed digest of a row's plaintext: detects unchanged rows without leaking content."""
        blob = json.dumps(values, sort_keys=True, ensure_ascii=False, default=str).encode()
        return hmac.new(self._hmac_key, blob, hashlib.sha256).hexdigest()[:32]

    def encrypt(self, payload: dict[str, Any] | None) -> str | None:
        if not payload or all(v in (None, "") for v in payload.values()):
            return None
        return self._fernet.encrypt(json.dumps(payload, ensure_ascii=False).encode()).decode()

    def decrypt(self, token: str | None) -> dict[str, Any]:
        if not token:
            return {}
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise RecordsKeyError("cannot decrypt: this is not the key the data was written with") from None

    @classmethod
    def generate(cls) -> RecordsKeys:
        return cls(secrets.token_bytes(32))

    def encoded(self) -> str:
        return base64.urlsafe_b64encode(self.secret).decode()

    @classmethod
    def from_text(cls, text: str) -> RecordsKeys:
        try:
            raw = base64.urlsafe_b64decode(text.strip().encode())
        except (ValueError, TypeError):
            raise RecordsKeyError("records key is not base64") from None
        return cls(raw)


def write_key_file(path: str | Path) -> RecordsKeys:
    """Create a new secret file readable only by its owner; refuses to overwrite one."""
    p = Path(path)
    if p.exists():
        raise RecordsKeyError(f"{p} already exists; refusing to overwrite a records key")
    keys = RecordsKeys.generate()
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(keys.encoded() + "\n")
    return keys


def load_keys(config: RecordsConfig | None = None, environ: dict[str, str] | None = None) -> RecordsKeys:
    """Key from ``CLASSPULSE_RECORDS_KEY``, else ``CLASSPULSE_RECORDS_KEY_FILE``, else config key_file."""
    env = os.environ if environ is None else environ
    if env.get(ENV_KEY):
        return RecordsKeys.from_text(env[ENV_KEY])
    path = env.get(ENV_KEY_FILE) or (config.key_file if config else None)
    if not path:
        raise RecordsKeyError(
            f"no records key: set records.key_file in the config, or {ENV_KEY_FILE}/{ENV_KEY} "
            "(create one with cloud_aggregator.records.keys.write_key_file)")
    try:
        return RecordsKeys.from_text(Path(path).read_text())
    except OSError as e:
        raise RecordsKeyError(f"cannot read records key file {path}: {e.strerror or e}") from None


def ensure_key_file(path: str | Path) -> RecordsKeys:
    """The key in ``path``, creating it (mode 0600) on first use — for demos and first-run set-up."""
    p = Path(path)
    if p.exists():
        try:
            return RecordsKeys.from_text(p.read_text())
        except OSError as e:
            raise RecordsKeyError(f"cannot read records key file {p}: {e.strerror or e}") from None
    return write_key_file(p)
