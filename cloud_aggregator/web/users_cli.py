"""``cloud-aggregator user add|list|disable|passwd``: dashboard accounts for IT staff, without the web UI.

Passwords never travel on the command line (it shows in ``ps`` and shell history): they come from a file
(``--password-file``, e.g. a systemd credential), from stdin (``--password-stdin``), or are generated and
printed once. Teachers, advisors and counsellors must be linked to a staff id that exists in the imported
records, because that link is what scopes their view (their sections, their students).
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from typing import TYPE_CHECKING, Any

from cloud_aggregator.store import db, open_store, web_sessions, web_users
from cloud_aggregator.store.web_tables import ROLES

from .auth import AuthError, check_password, create_user, hash_password

if TYPE_CHECKING:
    from cloud_aggregator.store import Store

STAFF_ROLES = ("teacher", "advisor", "counsellor")


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """(password, generated?)."""
    if getattr(args, "password_file", None):
        with open(args.password_file, encoding="utf-8") as f:
            return f.read().strip("\r\n"), False
    if getattr(args, "password_stdin", False):
        return sys.stdin.readline().strip("\r\n"), False
    return secrets.token_urlsafe(12), True


def add(store: Store, args: argparse.Namespace, scrypt_n: int) -> dict[str, Any]:  # noqa: ANN401
    if web_users.user_exists(store, args.username) and not args.replace:
        raise AuthError(f"user {args.username!r} exists; use --replace to reset it")
    if args.role in STAFF_ROLES:
        if not args.staff:
            raise AuthError(f"a {args.role} needs --staff <sourced id from the records>")
        if not web_users.staff_exists(store, args.staff):
            raise AuthError(f"no staff member {args.staff!r} in the imported records (import the roster first)")
    password, generated = _password(args)
    user = create_user(store, args.username, password, args.role, staff_sourced_id=args.staff,
                       display_name=args.display_name or "", language=args.language, scrypt_n=scrypt_n)
    out: dict[str, Any] = {"ok": True, "username": user.username, "role": user.role, "staff": user.staff_sourced_id}
    if generated:
        out["password"] = password  # shown once; not stored anywhere in clear
    return out


def set_password(store: Store, args: argparse.Namespace, scrypt_n: int) -> dict[str, Any]:  # noqa: ANN401
    if not web_users.user_exists(store, args.username):
        raise AuthError(f"no user {args.username!r}")
    password, generated = _password(args)
    check_password(password, args.username)
    web_users.set_password_hash(store, args.username, hash_password(password, scrypt_n))
    web_sessions.end_user_sessions(store, args.username)  # log out everywhere
    return {"ok": True, "username": args.username, **({"password": password} if generated else {})}


def disable(store: Store, args: argparse.Namespace) -> dict[str, Any]:  # noqa: ANN401
    if not web_users.set_disabled(store, args.username, not args.enable):
        raise AuthError(f"no user {args.username!r}")
    if not args.enable:
        web_sessions.end_user_sessions(store, args.username)
    return {"ok": True, "username": args.username, "disabled": not args.enable}


def list_users(store: Store) -> list[dict[str, Any]]:  # noqa: ANN401
    return web_users.accounts(store)


def main(args: argparse.Namespace) -> int:
    from cloud_aggregator.config import load_aggregator_config

    cfg = load_aggregator_config(args.config)
    store = open_store(cfg.store)
    try:
        db.ensure_web_tables(store)
        n = cfg.dashboard.auth.scrypt_n
        if args.user_cmd == "add":
            out: Any = add(store, args, n)
        elif args.user_cmd == "passwd":
            out = set_password(store, args, n)
        elif args.user_cmd == "disable":
            out = disable(store, args)
        else:
            out = list_users(store)
    except (AuthError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        store.close()
    print(json.dumps(out, ensure_ascii=False))
    return 0


def add_arguments(ap: argparse.ArgumentParser) -> None:
    sub = ap.add_subparsers(dest="user_cmd", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="aggregator config (YAML); defaults and CLASSPULSE_CLOUD__* overrides apply")
    pw = argparse.ArgumentParser(add_help=False)
    g = pw.add_mutually_exclusive_group()
    g.add_argument("--password-file", help="read the password from this file")
    g.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    a = sub.add_parser("add", parents=[common, pw], help="create a dashboard user (prints a generated password once)")
    a.add_argument("username")
    a.add_argument("--role", required=True, choices=ROLES)
    a.add_argument("--staff", help="staff sourcedId in the records (teachers, advisors, counsellors)")
    a.add_argument("--display-name")
    a.add_argument("--language", default="zh-CN", choices=["zh-CN", "en"])
    a.add_argument("--replace", action="store_true", help="overwrite an existing user")
    p = sub.add_parser("passwd", parents=[common, pw], help="set a new password and end the user's sessions")
    p.add_argument("username")
    d = sub.add_parser("disable", parents=[common], help="disable a user and end its sessions (--enable to undo)")
    d.add_argument("username")
    d.add_argument("--enable", action="store_true")
    sub.add_parser("list", parents=[common], help="list dashboard users (no password hashes)")
