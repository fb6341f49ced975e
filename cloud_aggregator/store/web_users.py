"""Dashboard accounts (``web_users``): password hashes, roles, language, the staff id that scopes a view.

``web.auth`` hashes and checks passwords and validates names and roles; these functions only store and
read the rows. A listing never carries a password hash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import db
from .base import now_iso
from .web_tables import WEB_USERS

if TYPE_CHECKING:
    from .base import Store


def save_user(store: Store, username: str, pw_hash: str, role: str, staff_sourced_id: str | None,
              display_name: str, language: str) -> None:
    """Create or replace an enabled account (a replaced one keeps no old field)."""
    db.insert(store, WEB_USERS, [{"username": username, "pw_hash": pw_hash, "role": role,
                                  "staff_sourced_id": staff_sourced_id, "display_name": display_name,
                                  "language": language, "disabled": 0, "created_at": now_iso()}])


def enabled_user(store: Store, username: str) -> dict[str, Any] | None:
    """The full row (hash included, for the password check) of an enabled account, else None."""
    rows = db.query(store, "SELECT * FROM web_users WHERE username = ? AND disabled = 0", (username,))
    return rows[0] if rows else None


def user_exists(store: Store, username: str) -> bool:
    """Whether an account of this name exists, enabled or not (the CLI refuses to overwrite it silently)."""
    return bool(db.query(store, "SELECT username FROM web_users WHERE username = ?", (username,)))


def accounts(store: Store) -> list[dict[str, Any]]:
    """Every account without its password hash, by name (``cloud-aggregator user list``)."""
    return db.query(store, "SELECT username, role, staff_sourced_id, display_name, language, disabled, created_at "
                           "FROM web_users ORDER BY username")


def set_language(store: Store, username: str, language: str) -> None:
    db.write(store, "UPDATE web_users SET language = ? WHERE username = ?", (language, username))


def set_password_hash(store: Store, username: str, pw_hash: str) -> None:
    db.write(store, "UPDATE web_users SET pw_hash = ? WHERE username = ?", (pw_hash, username))


def set_disabled(store: Store, username: str, disabled: bool) -> bool:
    """Disable or re-enable an account; False when there is no such account."""
    return db.write(store, "UPDATE web_users SET disabled = ? WHERE username = ?", (int(disabled), username)) > 0


def staff_exists(store: Store, staff_sourced_id: str) -> bool:
    """Whether the imported records hold a non-student with this sourced id: only such a staff member can be
    linked to a teacher's, advisor's or counsellor's account, since that link scopes what they see."""
    return bool(db.query(store, "SELECT sourced_id FROM users WHERE sourced_id = ? AND role <> ?",
                         (staff_sourced_id, "student")))
