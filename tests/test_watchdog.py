"""The watchdog pings systemd through a real notify socket only while every stage makes progress."""

from __future__ import annotations

import socket

from edge_agent.sdnotify import Watchdog, notify


def test_pings_stop_when_a_stage_hangs(tmp_path):
    path = str(tmp_path / "notify.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(path)
    srv.settimeout(0.5)
    try:
        assert notify("READY=1", path)
        assert srv.recv(64) == b"READY=1"
        wd = Watchdog(stall_s=10, sock_path=path)
        wd.progress("video", now=100.0)
        wd.progress("audio", now=100.0)
        assert wd.tick(now=105.0) and srv.recv(64) == b"WATCHDOG=1"
        wd.progress("audio", now=112.0)  # audio keeps going, video hangs since t=100
        assert not wd.tick(now=112.0)
        srv.settimeout(0.2)
        try:
            srv.recv(64)
            raise AssertionError("a ping was sent while the video stage hung")
        except TimeoutError:
            pass
        wd.progress("video", now=113.0)  # it recovers
        assert wd.tick(now=114.0) and srv.recv(64) == b"WATCHDOG=1"
    finally:
        srv.close()


def test_no_socket_is_a_no_op(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False
