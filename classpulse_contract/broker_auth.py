"""Mosquitto's password-file hash, shared by the box (offline enrolment) and the aggregator (token enrolment).

Both sides write lines Mosquitto must accept; one implementation keeps them the same format.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

#: Mosquitto 2.x's default for ``mosquitto_passwd`` ($7$ = PBKDF2-SHA512).
PBKDF2_ITERATIONS = 101


def mosquitto_hash(password: str, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """A ``$7$`` line value, as ``mosquitto_passwd`` writes it."""
    salt = salt or secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
