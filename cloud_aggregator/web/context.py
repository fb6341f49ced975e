"""What every route reads: the store, the configs and the app's own handles, as one typed object on
``app.state.web`` (handlers get it through ``deps.Web``), so a router holds no module state of its own."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import HTTPException, Request

from classpulse_contract import Aggregate
from cloud_aggregator import device_registry
from cloud_aggregator.config.warnings import WarningsConfig, warnings_config
from cloud_aggregator.config.web import DashboardConfig, Network, dashboard_config, parse_networks
from cloud_aggregator.timetable import SessionResolver

from . import audit, auth, fleet, live, scope
from .client_address import client_address
from .events import EventHub
from .throttle import LoginThrottle

if TYPE_CHECKING:
    from cloud_aggregator.config import AggregatorConfig
    from cloud_aggregator.ingest import IngestService
    from cloud_aggregator.records.keys import RecordsKeys
    from cloud_aggregator.store.base import Store

log = logging.getLogger(__name__)
#: stored window → (section_id, session_id), as ingest tags it
Resolver = Callable[[Aggregate], tuple[str | None, str | None]]


def records_keys(config: AggregatorConfig) -> RecordsKeys | None:
    """The records key, or None: names are optional, the dashboard then shows pseudonyms."""
    try:
        from cloud_aggregator.records.keys import load_keys

        return load_keys(getattr(config, "records", None))
    except Exception as e:  # noqa: BLE001 - names are optional; pseudonyms are shown instead
        log.info("records key not available (%s): the dashboard shows pseudonyms instead of names", e)
        return None


@dataclass
class WebContext:
    """The store, the configs (``cfg``: dashboard, ``wcfg``: warnings) and the app's handles: the live-event hub,
    the login throttle, the window resolver, the records key (None: pseudonyms only) and the device command sender."""

    store: Store
    config: AggregatorConfig
    cfg: DashboardConfig
    wcfg: WarningsConfig
    hub: EventHub
    throttle: LoginThrottle
    resolver: Resolver
    keys: RecordsKeys | None
    command_sender: fleet.CommandSender | None
    reserved: frozenset[str]
    proxies: tuple[Network, ...]
    ingest: IngestService | None = None

    @classmethod
    def build(cls, store: Store, config: AggregatorConfig, ingest: IngestService | None = None, *,
              command_sender: fleet.CommandSender | None = None, resolver: Resolver | None = None) -> WebContext:
        """Defaults: the command sender uses ``config.mqtt``; windows are resolved as ingest resolves them."""
        cfg = dashboard_config(config)
        mqtt = getattr(config, "mqtt", None)
        if command_sender is None and mqtt is not None:
            command_sender = fleet.CommandSender(store, mqtt)
        resolver = resolver or getattr(ingest, "resolve_session", None) or SessionResolver(store, refresh_s=30.0)
        return cls(store, config, cfg, warnings_config(config), EventHub(), LoginThrottle(store, cfg.auth), resolver,
                   records_keys(config), command_sender, device_registry.reserved_names(mqtt),
                   parse_networks(getattr(getattr(config, "web", None), "trusted_proxies", []) or []), ingest)

    def client_of(self, request: Request) -> str:
        """The address a request is throttled by (``web.trusted_proxies`` decides whether X-Forwarded-For counts)."""
        return client_address(request.client.host if request.client else None,
                              request.headers.getlist("x-forwarded-for"), self.proxies)

    def on_stored(self, aggs: list[Aggregate]) -> None:
        """Ingest's stored-windows callback: each window to the live pages that may see its section."""
        for a in aggs:
            try:
                section, session = self.resolver(a)
                payload = a.model_dump(mode="json", by_alias=True)
                self.hub.publish("agg", {"site": a.site, "room": a.room, "section_id": section, "session_id": session,
                                         "window": live.window_view(payload, self.cfg.zone_k)}, section)
            except Exception:  # never let the dashboard break ingest's writer thread
                log.exception("live fan-out failed")

    def audit(self, user: auth.User, action: str, pseudonyms: list[str], detail: str = "") -> None:
        audit.record(self.store, user.username, user.role, action, pseudonyms, detail)

    def encrypt_note(self, text: str) -> str | None:
        """A free-text note about a student, encrypted with the records key (never stored in clear)."""
        if not text:
            return None
        if self.keys is None:
            raise HTTPException(503, "notes need the records key (records.key_file) to be stored encrypted")
        return self.keys.encrypt({"t": text})

    def decrypt_note(self, token: str | None) -> str:
        if not token or self.keys is None:
            return ""
        return str(self.keys.decrypt(token).get("t", ""))

    def student_names(self, pseudonyms: list[str]) -> dict[str, dict[str, str]]:
        """Decrypted names of these students; none without the key or with the wrong one (pseudonyms only)."""
        if self.keys is None or not pseudonyms:
            return {}
        from cloud_aggregator.records.access import student_names

        try:
            return student_names(self.store.db, self.keys, pseudonyms)
        except Exception:  # noqa: BLE001 - wrong key for this database: pseudonyms only
            log.warning("could not decrypt student names (records key mismatch?)")
            return {}

    def check_section(self, user: auth.User, section_id: str) -> None:
        if section_id not in scope.visible_sections(self.store, user):
            raise HTTPException(403, "not your section")

    def check_student(self, user: auth.User, pseudonym: str) -> None:
        if pseudonym not in scope.visible_students(self.store, user):
            raise HTTPException(403, "not an assigned student")
