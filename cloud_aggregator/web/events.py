"""In-process fan-out of stored aggregates to server-sent-event clients.

Ingest calls ``publish`` from its writer thread; each SSE client owns a bounded
asyncio queue on the server's event loop. A client that cannot keep up loses its
oldest events (it re-reads current state on reconnect) instead of slowing ingest.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

CLIENT_QUEUE = 256


class EventHub:
    def __init__(self) -> None:
        self._clients: set[asyncio.Queue[str]] = set()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def subscribe(self) -> asyncio.Queue[str]:
        q: asyncio.Queue[str] = asyncio.Queue(maxsize=CLIENT_QUEUE)
        with self._lock:
            self._clients.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[str]) -> None:
        with self._lock:
            self._clients.discard(q)

    @property
    def n_clients(self) -> int:
        return len(self._clients)

    def _put(self, data: str) -> None:
        with self._lock:
            clients = list(self._clients)
        for q in clients:
            if q.full():
                q.get_nowait()
            q.put_nowait(data)

    def publish(self, event: str, payload: Any) -> None:
        """Thread-safe: may be called from any thread."""
        data = f"event: {event}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n"
        if self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._put, data)
