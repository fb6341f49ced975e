"""IT fleet in real Chromium: outbox depth and the oldest unconfirmed age in words, and the dead-letter list
(device, time, reason; paged; no payloads), in zh-CN and English at tablet size."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from tests._broker import start_mosquitto
from tests._dashboard_helpers import (
    BROWSER_MARKS,
    CHROMIUM,
    CHROMIUM_ARGS,
    TABLET,
    DashServer,
    copy_db,
    publisher,
    template_db,
    ui_login,
)

pytestmark = BROWSER_MARKS


def test_fleet_shows_outbox_age_and_dead_letters(tmp_path, tmp_path_factory, repo_root):
    from playwright.sync_api import sync_playwright

    tmpl = template_db(tmp_path_factory.getbasetemp() / "dash-template")
    broker = start_mosquitto(tmp_path / "broker")
    srv = DashServer(copy_db(tmpl, tmp_path / "a.db"), tmpl["key"], broker.port).start()
    pub = publisher(broker.port)
    art = repo_root / "test-artifacts"
    art.mkdir(exist_ok=True)
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        now = datetime.now(timezone.utc).isoformat()
        for dev, extra in (("cp-north-r101", {"outbox_depth": 7, "outbox_oldest_unconfirmed_s": 420.0,
                                              "delivery_confirmation": "aggregator"}),
                           ("cp-north-r102", {"outbox_depth": 0, "delivery_confirmation": "broker"})):
            health = {"schema": "classpulse.health", "version": "1.2", "device": dev, "ts": now, "uptime_s": 3600,
                      "cpu_temp_c": 55.0, "fps": 4.8, "policy": "no-emotion", "sensing": True, **extra}
            room = dev.rsplit("-", 1)[1]
            pub.publish(f"classpulse/v1/north/{room}/{dev}/health", json.dumps(health), qos=1).wait_for_publish(5)
        pub.publish("classpulse/v1/north/r101/cp-north-r101/agg", b'{"schema": "classpulse.agg", "version": "1.0"}',
                    qos=1).wait_for_publish(5)
        pub.publish("classpulse/v1/north/r102/cp-north-r102/agg", b"\x00\x01 not json", qos=1).wait_for_publish(5)
        ctx, page, errors = ui_login(browser, srv.url, "it", TABLET)
        page.wait_for_selector('tr[data-device="cp-north-r101"] [data-k="outbox-age"]', timeout=20_000)
        page.wait_for_function("() => document.querySelectorAll('#dl-table tr[data-dl]').length >= 2", timeout=20_000)
        assert "7" in page.inner_text('tr[data-device="cp-north-r101"]')
        assert page.inner_text('tr[data-device="cp-north-r101"] [data-k="outbox-age"]') == "最早一条已等待 7 分钟"
        assert page.locator('tr[data-device="cp-north-r102"] [data-k="puback-only"]').count() == 1
        dl = page.inner_text("#dl-table")
        assert "cp-north-r102" in dl and "not JSON" in dl and "not json" not in dl  # the reason, never the payload
        page.locator("#dead-letters").scroll_into_view_if_needed()
        page.screenshot(path=str(art / "it_fleet_delivery_zh.png"), full_page=True)
        page.click("#lang")
        page.wait_for_selector('html[lang="en"]', state="attached")
        page.wait_for_selector("text=Refused messages (dead letters)")
        page.wait_for_selector('tr[data-device="cp-north-r101"] [data-k="outbox-age"]')
        assert page.inner_text('tr[data-device="cp-north-r101"] [data-k="outbox-age"]') == "oldest waiting 7 min"
        page.wait_for_function("() => document.querySelectorAll('#dl-table tr[data-dl]').length >= 2")
        page.screenshot(path=str(art / "it_fleet_delivery_en.png"), full_page=True)
        assert page.locator("#dl-newer").is_disabled() and page.locator("#dl-older").is_disabled()
        assert not errors, errors
        ctx.close()
    finally:
        browser.close()
        pw.stop()
        pub.loop_stop()
        pub.disconnect()
        srv.stop()
        broker.stop()
