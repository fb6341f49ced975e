"""Warnings tests: a real SMTP server (aiosmtpd) and a real HTTP webhook receiver, both on free ports."""

from __future__ import annotations

import email
import email.policy
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from tests._broker import free_port


@dataclass
class Mail:
    to: list[str]
    subject: str
    body: str


class SmtpSink:
    """aiosmtpd on 127.0.0.1:<free port>; ``mails`` holds every message received, parsed."""

    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self.port = free_port()
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: ANN401, N802
                msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
                sink.mails.append(Mail(list(envelope.rcpt_tos), str(msg["Subject"]), msg.get_content()))
                return "250 OK"

        self.ctrl = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpSink:
        self.ctrl.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.ctrl.stop()


@dataclass
class Hook:
    headers: Any  # http.client.HTTPMessage: names are case-insensitive, as HTTP says
    raw: bytes

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.raw)


@dataclass
class WebhookSink:
    """http.server on 127.0.0.1:<free port>; answers 500 to the first ``fail_first`` requests."""

    fail_first: int = 0
    hooks: list[Hook] = field(default_factory=list)
    refused: int = 0

    def __enter__(self) -> WebhookSink:
        sink = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if sink.refused < sink.fail_first:
                    sink.refused += 1
                    self.send_response(500)
                else:
                    sink.hooks.append(Hook(self.headers, raw))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *a: Any) -> None:  # noqa: ANN401
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
