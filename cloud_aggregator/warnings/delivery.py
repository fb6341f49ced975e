"""Delivery outbox: e-mail (smtplib) and signed webhooks, each attempt recorded, failures retried.

Rows are written when a warning is routed or escalated (status ``pending``) and sent by
:func:`send_pending`; a failed attempt stays ``pending`` with a growing back-off until
``max_attempts``, then ``failed`` — still in the table, listed by ``warnings deliveries`` and
retried by ``warnings deliver --retry-failed``, never dropped. A recipient without an e-mail
address ends as ``no_address``; a student who opted out meanwhile as ``suppressed``.

Webhook bodies are JSON, signed with HMAC-SHA256 over the exact body bytes:
``X-ClassPulse-Signature: sha256=<hex>``; ``X-ClassPulse-Delivery`` is the delivery id (idempotency key).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import urllib.request
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from cloud_aggregator.config.warnings import WarningsConfig
from cloud_aggregator.store import iso, warning_deliveries, warning_log
from cloud_aggregator.store.analysable import is_analysable
from cloud_aggregator.store.routing import encrypted_contact, encrypted_name

from . import messages
from .routing import Recipient

if TYPE_CHECKING:
    from cloud_aggregator.store import Store

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-ClassPulse-Signature"
DELIVERY_HEADER = "X-ClassPulse-Delivery"
MAX_BACKOFF_S = 6 * 3600.0


def sign(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def enqueue(store: Store, cfg: WarningsConfig, warning_id: str, step: int, recipients: list[Recipient],
            now: datetime) -> int:
    """One pending row per recipient and configured channel (the webhook body names the recipient); returns rows added."""
    targets: list[warning_deliveries.Target] = []
    for rc in recipients:
        for ch in cfg.delivery.channels.get(rc.role, []):  # type: ignore[call-overload]
            if (ch == "email" and cfg.delivery.email is None) or (ch == "webhook" and cfg.delivery.webhook is None):
                continue
            if (rc.role, rc.id, ch) not in targets:
                targets.append((rc.role, rc.id, ch))
    return warning_deliveries.queue(store, warning_id, step, targets, now)


class _Mailer:
    """One SMTP connection per batch, opened on first use."""

    def __init__(self, cfg: WarningsConfig):
        self.cfg = cfg.delivery.email
        self.conn: smtplib.SMTP | None = None

    def send(self, to: str, subject: str, body: str) -> None:
        c = self.cfg
        assert c is not None
        if self.conn is None:
            cls = smtplib.SMTP_SSL if c.ssl else smtplib.SMTP
            self.conn = cls(c.host, c.port, timeout=c.timeout_s)
            if c.starttls and not c.ssl:
                self.conn.starttls()
            if c.username:
                pw = c.password_file.read_text().strip() if c.password_file else ""
                self.conn.login(c.username, pw)
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = c.sender, to, subject
        msg.set_content(body)
        try:
            self.conn.send_message(msg)
        except (smtplib.SMTPServerDisconnected, OSError):
            self.close()
            raise

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self.conn = None


def post_webhook(cfg: WarningsConfig, body: dict[str, Any], delivery_id: str) -> None:
    w = cfg.delivery.webhook
    assert w is not None
    data = json.dumps(body, ensure_ascii=False, sort_keys=True).encode("utf-8")
    secret = w.secret_file.read_bytes().strip()
    req = urllib.request.Request(w.url, data=data, method="POST", headers={  # noqa: S310 - URL from config
        "Content-Type": "application/json; charset=utf-8", SIGNATURE_HEADER: sign(secret, data),
        DELIVERY_HEADER: delivery_id, "User-Agent": "ClassPulse-warnings/1"})
    with urllib.request.urlopen(req, timeout=w.timeout_s) as resp:  # noqa: S310
        if not 200 <= resp.status < 300:
            raise OSError(f"webhook answered {resp.status}")


class Contacts:
    """E-mail addresses and student names, decrypted with the records key only when a message is sent."""

    def __init__(self, store: Store, keys: Any):  # noqa: ANN401
        self.store, self.keys = store, keys

    def email(self, sourced_id: str) -> str | None:
        if self.keys is None:
            return None
        enc = encrypted_contact(self.store, sourced_id)
        return (self.keys.decrypt(enc).get("email") or None) if enc else None

    def student_name(self, pseudonym: str) -> str | None:
        if self.keys is None:
            return None
        enc = encrypted_name(self.store, pseudonym)
        if not enc:
            return None
        n = self.keys.decrypt(enc)
        local = f"{n.get('family', '')}{n.get('given', '')}".strip()
        return " / ".join(x for x in (local, n.get("english", "")) if x) or None


def send_pending(store: Store, cfg: WarningsConfig, keys: Any, now: datetime | None = None,  # noqa: ANN401, C901
                 retry_failed: bool = False) -> dict[str, int]:
    """Send every due delivery; returns counts by resulting status."""
    now = now or datetime.now(timezone.utc)
    statuses = ("pending", "failed") if retry_failed else ("pending",)
    due = warning_deliveries.due(store, now, statuses)
    counts: dict[str, int] = {}
    if not due:
        return counts
    contacts, mailer, lang = Contacts(store, keys), _Mailer(cfg), cfg.delivery.language
    warnings: dict[str, dict[str, Any] | None] = {}  # warning id -> its row (None: gone)
    try:
        for d in due:
            w = warnings.get(d["warning_id"])
            if w is None:
                stored = warning_log.warnings_by_id(store, [d["warning_id"]])
                w = warnings[d["warning_id"]] = stored.get(d["warning_id"])
            status, error = "sent", None
            try:
                if w is None:
                    status, error = "failed", "warning no longer exists"
                elif w["scope"] == "student" and not is_analysable(store, w["subject"]):
                    status = "suppressed"
                else:
                    name = (contacts.student_name(w["subject"])
                            if w["scope"] == "student" and d["role"] in cfg.names_for else None)
                    msg = messages.content(w, d["role"], name, lang, cfg.dashboard_url, int(d["step"] or 0))
                    if d["channel"] == "email":
                        to = contacts.email(d["recipient"])
                        if to is None:
                            status = "no_address"
                        else:
                            mailer.send(to, *messages.email_text(msg, lang))
                    else:
                        post_webhook(cfg, {**msg, "recipient": d["recipient"], "delivery_id": d["id"],
                                           "sent_at": iso(now)}, d["id"])
            except Exception as e:  # noqa: BLE001 - one bad row must not stop the batch; it is retried
                attempts = int(d["attempts"] or 0) + 1
                status = "failed" if attempts >= cfg.delivery.max_attempts else "pending"
                error = f"{type(e).__name__}: {e}"[:500]
                wait = min(MAX_BACKOFF_S, cfg.delivery.retry_base_s * 2 ** (attempts - 1))
                warning_deliveries.record_retry(store, d["id"], status, attempts, error, now + timedelta(seconds=wait))
                log.warning("warning delivery %s via %s failed (attempt %d): %s", d["id"], d["channel"], attempts, error)
                status = "retry" if status == "pending" else status
                counts[status] = counts.get(status, 0) + 1
                continue
            warning_deliveries.record_outcome(store, d["id"], status, int(d["attempts"] or 0) + 1, error,
                                              now if status == "sent" else None)
            counts[status] = counts.get(status, 0) + 1
    finally:
        mailer.close()
    return counts
