"""In-process fan-out of stored aggregates to server-sent-event clients.

Ingest calls ``publish`` from its writer thread; each SSE client owns a bounded asyncio
queue on the server's event loop and a filter (the sections it may see), so a teacher's
stream never carries another class's windows. A client that cannot keep up loses its
oldest events (the page re-reads current state on reconnect) instead of slowing ingest.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CLIENT_QUEUE = 256
Filter = Callable[[str | None], bool]  # section_id (None: window outside any lesson) -> deliver?


@dataclass(eq=False)
class Client:
    queue: asyncio.Queue[str]
    accepts: Filter


class EventHub:
    def __init__(self) -> None:
        self._clients: set[Client] = set()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def subscribe(self, accepts: Filter = lambda _s: True) -> Client:
        c = Client(asyncio.Queue(maxsize=CLIENT_QUEUE), accepts)
        with self._lock:
            self._clients.add(c)
        return c

    def unsubscribe(self, c: Client) -> None:
        with self._lock:
            self._clients.discard(c)

    @property
    def n_clients(self) -> int:
        return len(self._clients)

    def _put(self, section_id: str | None, data: str) -> None:
        with self._lock:
            clients = list(self._clients)
        for c in clients:
            if not c.accepts(section_id):
                continue
            if c.queue.full():
                c.queue.get_nowait()
            c.queue.put_nowait(data)

    def publish(self, event: str, payload: Any, section_id: str | None = None) -> None:  # noqa: ANN401
        """Thread-safe: may be called from any thread; serialised once for every client."""
        data = f"event: {event}\ndata: {json.dumps(payload, separators=(',', ':'), ensure_ascii=False)}\n\n"
        if self._loop is None or self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._put, section_id, data)
