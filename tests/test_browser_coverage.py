"""In real Chromium: a window whose camera analysis fell behind says so in words, shows no zero tile, and leaves
a gap in the chart; the fleet view marks a device analysing fewer frames than its target (contract 1.1)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from tests._dashboard_helpers import BROWSER_MARKS, TABLET, aggregate, publish, ui_login
from tests.test_browser_dashboard import env  # noqa: F401 - the same real server, broker and Chromium

pytestmark = BROWSER_MARKS
ATT = "#0b6e99"  # the attention line's colour in teacher.js
STARVED = {"version": "1.1", "n_faces": None, "attention_share": None, "hand_raises": None, "engagement": None,
           "zones": None, "frames_processed": 1, "vision_coverage": 0.1, "audio_coverage": 1.0, "vision_level": 0,
           "coverage_flags": ["vision_starved"]}


def _both_languages(page, shot):  # noqa: ANN001
    """Screenshot in the user's language, switch, screenshot again; returns {lang: page text}."""
    texts = {}
    for _ in range(2):
        lang = page.get_attribute("html", "lang")
        page.wait_for_timeout(300)
        page.screenshot(path=str(shot(lang)))
        texts[lang] = page.inner_text("#view")
        page.click("#lang")
        page.wait_for_function(f"() => document.documentElement.lang !== {json.dumps(lang)}")
        page.wait_for_selector("#view .live, #view table", timeout=10_000)
    return texts


def test_starved_window_says_so_without_zero_tiles_and_the_chart_leaves_a_gap(env):  # noqa: F811
    srv, pub, browser, art = env["srv"], env["pub"], env["browser"], env["art"]
    _, page, errors = ui_login(browser, srv.url, "teacher", TABLET)
    page.wait_for_selector(".live[data-state]")
    page.wait_for_selector("#conn.on", timeout=10_000)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    # five 30 s windows: measured, measured, camera analysis behind, measured, and the latest one behind again
    starts = [now - timedelta(seconds=40 + 30 * i) for i in range(4, -1, -1)]
    for i, start in enumerate(starts):
        over = {"version": "1.1", "attention_share": 0.6 + 0.05 * i, "coverage_flags": [], "vision_coverage": 1.0}
        if i == 4:  # the latest: the microphone path fell behind as well
            over = {**STARVED, "speech_share": None, "teacher_talk_share": None, "speech_turns": None,
                    "audio_coverage": 0.2, "coverage_flags": ["vision_starved", "audio_starved"]}
        msg = aggregate("north", "r101", "cp-north-r101", 7000 + i, start=start, **(STARVED if i == 2 else over))
        publish(pub, msg)
    page.wait_for_selector('.live[data-last-msg="7004"]', timeout=15_000)
    page.wait_for_function("() => document.querySelectorAll('.live svg polyline').length > 0", timeout=5_000)
    assert page.inner_text('[data-k="quality"][data-flag="vision_starved"]').strip()
    assert page.get_attribute('[data-k="talk"]', "data-flag") == "audio_starved"  # words, not "no talk measured"
    for k in ("attention", "participation", "hands", "faces"):
        value = page.inner_text(f'[data-k="{k}"]').strip()
        assert value == "–", f"{k} tile shows {value!r} for a window the camera did not analyse"
    # the attention line: measured windows 0-1 and 3 only; a null breaks the line instead of dipping to 0
    att_lines = page.eval_on_selector_all(f'.live svg polyline[stroke="{ATT}"]', "els => els.map(e => e.getAttribute('points'))")
    assert len(att_lines) == 1 and len(att_lines[0].split()) == 2, att_lines
    ys = [float(p.split(",")[1]) for line in att_lines for p in line.split()]
    bottom = max(float(y) for y in page.eval_on_selector_all(".live svg line", "els => els.map(e => e.getAttribute('y1'))"))
    assert all(y < bottom - 1 for y in ys), "a point sits on the 0 % line"
    texts = _both_languages(page, lambda lang: art / f"teacher_starved_{lang}.png")
    assert "Camera analysis behind" in texts["en"] and "摄像头分析跟不上" in texts["zh-CN"]
    assert "Microphone analysis behind" in texts["en"] and "麦克风分析跟不上" in texts["zh-CN"]
    assert not errors, errors


def test_fleet_marks_a_device_below_its_target_frame_rate(env):  # noqa: F811
    srv, pub, browser, art = env["srv"], env["pub"], env["browser"], env["art"]
    now = datetime.now(timezone.utc)
    for device, fps in (("cp-north-r101", 0.3), ("cp-north-r102", 0.98)):
        health = {"schema": "classpulse.health", "version": "1.1", "device": device, "ts": now.isoformat(),
                  "uptime_s": 600.0, "fps": fps, "target_fps": 1.0, "sensing": True, "vision_level": 2 if fps < 1 else 0,
                  "vision_level_name": "keypoint-pose", "policy": "no-emotion"}
        room = device.rsplit("-", 1)[1]
        pub.publish(f"classpulse/v1/north/{room}/{device}/health", json.dumps(health), qos=1).wait_for_publish(5)
    _, page, errors = ui_login(browser, srv.url, "it", TABLET)
    page.wait_for_selector('tr[data-device="cp-north-r102"] [data-k="fps"]', timeout=15_000)
    slow = page.locator('tr[data-device="cp-north-r101"] [data-k="fps"]')
    assert slow.get_attribute("class") == "warn"
    assert page.locator('tr[data-device="cp-north-r102"] [data-k="fps"]').get_attribute("class") is None
    texts = _both_languages(page, lambda lang: art / f"fleet_fps_behind_{lang}.png")
    assert "below target 1.0/s" in texts["en"] and "低于目标 1.0/秒" in texts["zh-CN"]
    assert not errors, errors
