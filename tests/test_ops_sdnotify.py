"""Watchdog through a real AF_UNIX datagram notify socket: pings stop when a stage hangs."""

from __future__ import annotations

import socket
import time

from edge_agent.sdnotify import Watchdog, notify


def _recv_all(s: socket.socket, seconds: float) -> list[str]:
    out, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        s.settimeout(max(0.01, end - time.monotonic()))
        try:
            out.append(s.recv(4096).decode())
        except TimeoutError:
            break
    return out


def test_watchdog_fed_only_while_stages_progress(tmp_path):
    path = str(tmp_path / "notify.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(path)
    wd = Watchdog(["capture", "analysis"], stall_s=0.3, interval_s=0.05, sock_path=path)
    wd.ready()
    assert _recv_all(srv, 0.2)[0].startswith("READY=1")
    wd.start()
    t_end = time.monotonic() + 0.6
    while time.monotonic() < t_end:  # both stages healthy
        wd.progress("capture")
        wd.progress("analysis")
        time.sleep(0.02)
    healthy = _recv_all(srv, 0.05)
    assert healthy.count("WATCHDOG=1") >= 5
    # analysis hangs, capture keeps going: pings must stop once stall_s elapsed
    t_end = time.monotonic() + 1.0
    msgs: list[str] = []
    while time.monotonic() < t_end:
        wd.progress("capture")
        msgs += _recv_all(srv, 0.05)
    late = msgs[len(msgs) // 2:]
    assert late and "WATCHDOG=1" not in late
    assert any("stalled: analysis" in m for m in late)
    wd.stop()
    srv.close()


def test_notify_without_socket_is_noop(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False
