"""The aggregator's one composition root: the store, the device registry's broker sync, MQTT ingest (with its
session resolver), the dashboard on uvicorn, and the report and warnings schedulers.

``build`` wires them; ``Runtime`` is the only place they are started and stopped, whether the CLI serves in
the foreground (``run``) or the demo, a test or a bench script runs the whole aggregator in-process
(``start``/``stop``).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import uvicorn
from fastapi import FastAPI

from cloud_aggregator import device_registry
from cloud_aggregator.config import AggregatorConfig
from cloud_aggregator.ingest import IngestService
from cloud_aggregator.store import Store, open_store
from cloud_aggregator.timetable import SessionResolver
from cloud_aggregator.warnings.scheduler import WarningScheduler
from cloud_aggregator.web.app import create_app
from cloud_aggregator.web.context import WebContext
from cloud_aggregator.web.reports import ReportScheduler, report_dir

log = logging.getLogger(__name__)
START_TIMEOUT_S = 30.0


@dataclass
class Runtime:
    """One aggregator process's parts; background ones run only between ``start`` and ``stop``."""

    cfg: AggregatorConfig
    store: Store
    ingest: IngestService
    app: FastAPI
    server: uvicorn.Server
    schedulers: list[ReportScheduler | WarningScheduler]
    _web: threading.Thread | None = field(default=None, init=False)
    _ingesting: bool = field(default=False, init=False)

    def _start_background(self, ingest: bool) -> None:
        if ingest:
            self.ingest.start()
            self._ingesting = True
        for s in self.schedulers:
            s.start()

    def start(self, ingest: bool = True) -> Runtime:
        """Everything in background threads (``ingest=False``: the web side only); returns once the dashboard
        accepts connections."""
        self._start_background(ingest)
        self._web = threading.Thread(target=self.server.run, name="web", daemon=True)
        self._web.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started:
            if not self._web.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the dashboard did not start on {self.cfg.web.host}:{self.cfg.web.port}")
            time.sleep(0.05)
        return self

    def run(self) -> int:
        """The CLI: uvicorn in this (main) thread until a signal, the rest around it."""
        self._start_background(ingest=True)
        log.info("dashboard on http://%s:%s/", self.cfg.web.host, self.cfg.web.port)
        try:
            self.server.run()
        finally:
            self._stop_background()
        return 0

    def stop(self) -> None:
        if self._web is not None:
            self.server.should_exit = True
            self._web.join(timeout=10)
            self._web = None
        self._stop_background()

    def _stop_background(self) -> None:
        for s in self.schedulers:
            s.stop()
        for s in self.schedulers:
            if s.is_alive():
                s.join(timeout=10)  # a run in progress finishes before its store closes
        if self._ingesting:
            self.ingest.stop()
            self._ingesting = False
        self.store.close()


def build(cfg: AggregatorConfig) -> Runtime:
    """Open the store, align the broker's ACL with the device registry and wire ingest, dashboard and schedulers
    (nothing started yet)."""
    store = open_store(cfg.store)
    if cfg.enrolment.acl_file is not None:  # the device listener's ACL always matches the registry
        device_registry.sync_broker(store, cfg.enrolment)
    ingest = IngestService(cfg, store)
    ingest.resolve_session = SessionResolver(store)  # each window tagged with its section session
    app = create_app(store, cfg, ingest)
    server = uvicorn.Server(uvicorn.Config(app, host=cfg.web.host, port=cfg.web.port, log_level="warning",
                                           access_log=False, proxy_headers=False))  # web.trusted_proxies decides
    web: WebContext = app.state.web
    schedulers: list[ReportScheduler | WarningScheduler] = []
    if web.cfg.report_schedule == "weekly":
        schedulers.append(ReportScheduler(store, report_dir(web.cfg, cfg), web.cfg.default_language,
                                          web.cfg.report_fonts))
    if web.wcfg.schedule == "hourly":
        schedulers.append(WarningScheduler(store, web.wcfg, web.keys))
    return Runtime(cfg, store, ingest, app, server, schedulers)
