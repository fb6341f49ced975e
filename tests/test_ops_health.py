from __future__ import annotations

from classpulse_contract.v1 import dumps, parse_message
from edge_agent.health import collect, cpu_temp_c, mem_available_mb


def test_thermal_zones_take_the_hottest_and_ignore_garbage(tmp_path):
    for i, v in enumerate(["45000", "61500", "junk", "999999"]):
        (tmp_path / f"thermal_zone{i}").mkdir()
        (tmp_path / f"thermal_zone{i}" / "temp").write_text(v)
    assert cpu_temp_c(tmp_path) == 61.5
    assert cpu_temp_c(tmp_path / "absent") is None


def test_meminfo_and_collect_roundtrip(tmp_path):
    (tmp_path / "meminfo").write_text("MemTotal: 4000000 kB\nMemAvailable: 2048000 kB\n")
    assert mem_available_mb(tmp_path / "meminfo") == 2000.0
    h = collect("d1", outbox_depth=3, outbox_dropped=1, data_dir=tmp_path / "not" / "yet", camera_ok=False)
    back, _ = parse_message(dumps(h), "classpulse.health")
    assert back.outbox_depth == 3 and back.camera_ok is False and back.disk_free_mb and back.uptime_s >= 0
