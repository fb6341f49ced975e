"""The dashboard's own tables (users, sessions, audit log, interventions, feedback, device commands).

Declared like the records tables (``store.records_tables.Table``) and created with ``RecordsDB.ensure_schema``
when the app starts, on SQLite or PostgreSQL alike. Free-text notes about a student are stored
encrypted with the records key (``*_enc``), as the records layer does for names.
"""

from __future__ import annotations

from .records_tables import Table


def _t(name: str, cols: str, pk: str, indexes: tuple[tuple[str, ...], ...] = ()) -> Table:
    parsed = tuple((c.split()[0], c.split()[1].upper()) for c in cols.split(","))
    return Table(name, parsed, tuple(pk.split(",")), indexes)


WEB_USERS = _t("web_users", "username text, pw_hash text, role text, staff_sourced_id text, display_name text, "
               "language text, disabled integer, created_at text", "username")
WEB_SESSIONS = _t("web_sessions", "token_sha256 text, username text, csrf text, created_at text, expires_at text, "
                  "last_seen text", "token_sha256", (("username",),))
AUDIT_LOG = _t("audit_log", "id text, ts text, username text, role text, action text, student_pseudonym text, "
               "detail text", "id", (("ts",), ("student_pseudonym",)))
INTERVENTIONS = _t("interventions", "id text, student_pseudonym text, warning_id text, by_user text, created_at text, "
                   "kind text, note_enc text, outcome text, outcome_note_enc text, outcome_at text",
                   "id", (("student_pseudonym",),))
WARNING_ACTIONS = _t("warning_actions", "id text, warning_id text, student_pseudonym text, by_user text, ts text, "
                     "action text, note_enc text", "id", (("warning_id",), ("student_pseudonym",)))
ASSISTANT_FEEDBACK = _t("assistant_feedback", "id text, ts text, username text, section_id text, session_id text, "
                        "rule_id text, verdict text, value real, usual real", "id", (("rule_id",),))
DEVICE_COMMANDS = _t("device_commands", "cmd_id text, device text, site text, room text, command text, args text, "
                     "issued_by text, issued_at text, result_ok integer, result_detail text, result_at text",
                     "cmd_id", (("device",),))
# login/enrolment throttle counters (web.throttle) and the (user, address) pairs that logged in; addresses hashed
WEB_THROTTLE = _t("web_throttle", "tkey text, fails integer, window_start real, blocked_until real", "tkey")
WEB_LOGIN_KNOWN = _t("web_login_known", "username text, addr text, last_ok real", "username,addr")

WEB_TABLES: tuple[Table, ...] = (WEB_USERS, WEB_SESSIONS, AUDIT_LOG, INTERVENTIONS, WARNING_ACTIONS,
                                 ASSISTANT_FEEDBACK, DEVICE_COMMANDS, WEB_THROTTLE, WEB_LOGIN_KNOWN)
ROLES = ("teacher", "advisor", "counsellor", "it", "admin")
