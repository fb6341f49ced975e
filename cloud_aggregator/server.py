"""Run ingest and the web app in one process (uvicorn in the main thread)."""

from __future__ import annotations

import logging

import uvicorn

from cloud_aggregator import device_registry
from cloud_aggregator.config import AggregatorConfig
from cloud_aggregator.ingest import IngestService
from cloud_aggregator.store import Store
from cloud_aggregator.timetable import SessionResolver
from cloud_aggregator.web.app import create_app

log = logging.getLogger(__name__)


def build(cfg: AggregatorConfig) -> tuple[Store, IngestService, uvicorn.Server]:
    store = Store.open(cfg.store)
    if cfg.enrolment.acl_file is not None:  # the device listener's ACL always matches the registry
        device_registry.sync_broker(store, cfg.enrolment)
    ingest = IngestService(cfg, store)
    ingest.resolve_session = SessionResolver(store)  # each window tagged with its section session
    app = create_app(store, cfg, ingest)
    server = uvicorn.Server(uvicorn.Config(app, host=cfg.web.host, port=cfg.web.port, log_level="warning",
                                           access_log=False, proxy_headers=False))  # web.trusted_proxies decides
    return store, ingest, server


def serve(cfg: AggregatorConfig) -> int:
    store, ingest, server = build(cfg)
    ingest.start()
    log.info("dashboard on http://%s:%s/", cfg.web.host, cfg.web.port)
    try:
        server.run()
    finally:
        ingest.stop()
        store.close()
    return 0
