"""The dashboard's password rule, NIST SP 800-63B style: length, not common, not the user's own name.

No composition rules (they push people to ``Password1!``) and no expiry; instead a password is refused
when it is shorter than ``MIN_LENGTH``, longer than the login form accepts, one repeated character, the
user name (also with digits or symbols around it), or on the list of common passwords shipped beside
this module (``common_passwords.txt``, source and licence in its header).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

MIN_LENGTH = 8
MAX_LENGTH = 256  # LoginIn accepts no more
_CONTEXT = ("classpulse", "class-pulse", "dashboard")  # the service's own name (800-63B 5.1.1.2)


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    text = resources.files("cloud_aggregator.web").joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("# ") and line != "#")


def _core(s: str) -> str:
    """``Alice2024!`` → ``alice``: the word once decorations at its ends are gone."""
    return s.lower().strip("0123456789!@#$%^&*()_+-=.,;:?~ ")


def password_problem(password: str, username: str) -> str | None:
    """Why ``password`` is refused for ``username``, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"password must have at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"password must have at most {MAX_LENGTH} characters"
    if len(set(password)) == 1:
        return "password must not be one repeated character"
    low = password.lower()
    if username and (low == username.lower() or _core(password) == username.lower()):
        return "password must not be the user name"
    if low in common_passwords() or _core(password) in _CONTEXT or low in _CONTEXT:
        return "password is too common (it is on the list of common passwords); choose another"
    return None
