"""Scoring on a schedule inside the aggregator process (``warnings.schedule: hourly``).

A daemon thread: after ``first_run_delay_s`` it scores every ``interval_min`` and, every minute in
between, escalates what is due and sends or retries the outbox, so a failed delivery is retried
without waiting for the next run. Run it in one aggregator process only (set ``schedule: off`` on
the others); ``cloud-aggregator warnings run`` from a systemd timer is the alternative.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from cloud_aggregator.config.warnings import WarningsConfig

from . import engine

if TYPE_CHECKING:
    from cloud_aggregator.store import Store

log = logging.getLogger(__name__)
TICK_S = 60.0


class WarningScheduler(threading.Thread):
    def __init__(self, store: Store, cfg: WarningsConfig, keys: Any = None):  # noqa: ANN401
        super().__init__(daemon=True, name="warning-scheduler")
        self.store, self.cfg, self.keys = store, cfg, keys
        self.stop_evt = threading.Event()
        self.runs = 0

    def run(self) -> None:
        if self.stop_evt.wait(self.cfg.first_run_delay_s):
            return
        next_run = time.monotonic()
        while not self.stop_evt.is_set():
            try:
                if time.monotonic() >= next_run:
                    engine.run(self.store, self.cfg, self.keys, trigger="schedule")
                    self.runs += 1
                    next_run = time.monotonic() + self.cfg.interval_min * 60.0
                else:
                    engine.tick(self.store, self.cfg, self.keys)
            except Exception:  # a failed run is recorded in warning_runs; the dashboard stays up
                log.exception("scheduled warnings run failed")
                next_run = time.monotonic() + self.cfg.interval_min * 60.0
            self.stop_evt.wait(min(TICK_S, max(1.0, next_run - time.monotonic())))

    def stop(self) -> None:
        self.stop_evt.set()
