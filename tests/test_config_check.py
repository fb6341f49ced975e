"""Config checks catch what ``run`` would crash on, in words; the example configs are complete and valid."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classpulse_contract.config_io import ConfigError, load_config
from cloud_aggregator.config import AggregatorConfig
from cloud_aggregator.config_check import load_checked as load_aggregator_checked
from edge_agent.config import AgentConfig
from edge_agent.config_check import load_checked
from edge_agent.schedule import in_session

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
RAW_REGEX_MARKS = ("pattern", "^[", "]{", "String should match")


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=300, cwd=cwd)


def agent_problems(tmp_path: Path, tree: dict) -> list[str]:
    f = tmp_path / "agent.yaml"
    f.write_text(yaml.safe_dump(tree), encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_checked(f)
    return e.value.problems


@pytest.mark.parametrize(("tool", "name", "model"), [("edge-agent", "agent.yaml", AgentConfig),
                                                      ("cloud-aggregator", "aggregator.yaml", AggregatorConfig)])
def test_example_configs_pass_config_check_and_name_every_section(tmp_path, tool, name, model):
    r = cli(tool, "config", "check", str(EXAMPLES / name), cwd=tmp_path)  # relative data paths land in tmp
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1])["ok"] is True
    written = yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))
    assert set(written) == set(model.model_fields), "every section is in the example"


def test_example_values_are_the_defaults_except_identity_and_timetable():
    agent = AgentConfig.model_validate(yaml.safe_load((EXAMPLES / "agent.yaml").read_text()))
    defaults = AgentConfig().model_dump()
    differs = {k for k, v in agent.model_dump().items() if v != defaults[k]}
    assert differs == {"device", "schedule"}  # a real room needs both; every other value is the safe default
    assert agent.policy == "no-emotion" and not agent.schedule.always and agent.schedule.periods
    agg = AggregatorConfig.model_validate(yaml.safe_load((EXAMPLES / "aggregator.yaml").read_text()))
    assert agg.model_dump() == AggregatorConfig().model_dump()


def test_a_score_floor_the_mediapipe_face_graph_ignores_is_noted():
    from edge_agent.config_check import notes

    graph = AgentConfig(vision={"face_detector": "mediapipe", "min_detection_confidence": 0.5})
    assert any("min_detection_confidence is ignored" in n for n in notes(graph))
    assert not any("vision." in n for n in notes(AgentConfig(vision={"min_detection_confidence": 0.5})))


def test_a_room_profile_measured_through_another_detectors_pose_path_is_noted(tmp_path):
    """Board directions depend on the pose path (issue #22): config check says which detector measured the
    profile and how to re-measure it; detectors that share a pose path, or a profile without board
    directions, say nothing."""
    from edge_agent.config_check import notes

    def profile(name: str, camera: dict) -> str:
        p = tmp_path / f"{name}.yaml"
        p.write_text(yaml.safe_dump({"camera": camera}))
        return str(p)

    board = {"board": {"yaw_deg": 2.0, "pitch_deg": -20.0}}
    litert = profile("litert", {**board, "face_detector": "litert"})
    assert [n for n in notes(AgentConfig(calibration=litert)) if n.startswith("calibration:")] == [
        f"calibration: the room profile's board directions were measured with face_detector litert, the agent "
        f"runs ours: head angles differ between their pose paths, so attention would be off; re-run "
        f"`edge-agent calibrate-camera --face-detector ours --out {litert}` while the class faces the board"]
    assert not [n for n in notes(AgentConfig(calibration=litert, vision={"face_detector": "mediapipe"}))
                if n.startswith("calibration:")]
    ours = profile("ours", {**board, "face_detector": "ours"})
    assert not [n for n in notes(AgentConfig(calibration=ours)) if n.startswith("calibration:")]
    unknown = notes(AgentConfig(calibration=profile("unknown", board)))
    assert any("does not record which face detector" in n for n in unknown)
    seats = profile("seats", {"seated_area": [0.1, 0.2, 0.8, 0.6]})
    assert not [n for n in notes(AgentConfig(calibration=seats)) if n.startswith("calibration:")]
    f = tmp_path / "agent.yaml"
    f.write_text(yaml.safe_dump({"device": {"id": "cp-r101"}, "calibration": litert}))
    r = cli("edge-agent", "config", "check", str(f))
    assert r.returncode == 0 and "note: calibration: the room profile's board directions" in r.stderr


def test_misspelt_time_zone_fails_config_check_and_check_in_words(tmp_path):
    f = tmp_path / "agent.yaml"
    f.write_text("device: {id: Room_101}\nschedule: {timezone: Europe/Lodnon}\n")
    r = cli("edge-agent", "config", "check", str(f))
    assert r.returncode == 2
    assert "schedule.timezone: unknown time zone 'Europe/Lodnon': did you mean Europe/London?" in r.stderr
    assert "device.id: 'Room_101': must be lowercase letters, digits and dashes" in r.stderr
    assert "e.g. cp-north-r101" in r.stderr and "examples/agent.yaml" in r.stderr
    assert not any(m in r.stderr for m in RAW_REGEX_MARKS), r.stderr
    r = cli("edge-agent", "check", "--config", str(f))
    assert r.returncode == 1
    assert r.stdout.splitlines()[0].startswith("FAIL  config") and "unknown time zone" in r.stdout
    assert json.loads(r.stdout.splitlines()[-1]) == {"ok": False, "passed": [], "failed": ["config"]}


def test_unquoted_period_times_and_empty_days_are_refused(tmp_path):
    # YAML reads 8:30 as 510 (base 60); pydantic would have taken it as 00:08:30
    f = tmp_path / "agent.yaml"
    f.write_text("schedule:\n  periods:\n    - {days: [mon], start: 8:30, end: '09:15'}\n"
                 "    - {days: [], start: '10:00', end: '10:45'}\n    - {days: [tue], start: '11:00', end: '10:00'}\n")
    with pytest.raises(ConfigError) as e:
        load_checked(f)
    text = "\n".join(e.value.problems)
    assert "schedule.periods.0.start: write the time in quotes as 'HH:MM'" in text
    assert "schedule.periods.1.days:" in text and "schedule.periods.2: end must be after start" in text


def test_files_the_agent_reads_and_writes_are_checked(tmp_path):
    bad_profile = tmp_path / "room.yaml"
    bad_profile.write_text("camera: {zones: [{name: a}]}\nlighting: dim\n")
    keys = tmp_path / "keys.pub"
    keys.write_text("")
    found = agent_problems(tmp_path, {
        "mqtt": {"password_file": str(tmp_path / "missing-pw"), "tls": {"ca_file": str(tmp_path)}},
        "models": {"trusted_keys": [str(keys), str(tmp_path / "nope.pub")]},
        "calibration": str(bad_profile),
        "outbox": {"path": str(keys / "outbox.db")},  # under a file: cannot be created
    })
    text = "\n".join(found)
    assert f"mqtt.password_file: {tmp_path / 'missing-pw'} does not exist" in text
    assert f"mqtt.tls.ca_file: {tmp_path} is a folder, not a file" in text
    assert "models.trusted_keys.1:" in text and "models.trusted_keys.0" not in text
    assert "calibration:" in text and "lighting: unknown key" in text
    assert "outbox.path: cannot create" in text
    assert not any(m in text for m in RAW_REGEX_MARKS)


def test_aggregator_files_are_checked(tmp_path):
    f = tmp_path / "aggregator.yaml"
    f.write_text(yaml.safe_dump({"records": {"key_file": str(tmp_path / "records.key")},
                                 "mqtt": {"client_id": "has space"}}))
    with pytest.raises(ConfigError) as e:
        load_aggregator_checked(f)
    assert e.value.problems == ["mqtt.client_id: 'has space' does not have the expected form (every key with its "
                                "meaning and a safe default: examples/agent.yaml, examples/aggregator.yaml)"]
    f.write_text(yaml.safe_dump({"records": {"key_file": str(tmp_path / "records.key")},
                                 "store": {"path": str(f / "db.sqlite")}}))
    with pytest.raises(ConfigError) as e:
        load_aggregator_checked(f)
    assert [p.split(":")[0] for p in e.value.problems] == ["records.key_file", "store.path"]


# ---- hypothesis: the parsers of outside input (config files, env overrides) answer every input in words

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                     st.text(max_size=30))
_trees = st.recursive(_scalars, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                       st.dictionaries(st.text(max_size=12), kids, max_size=4)),
                      max_leaves=20)
_sections = st.fixed_dictionaries({}, optional={k: _trees for k in ("device", "schedule", "mqtt", "window_s",
                                                                     "policy", "video", "models", "calibration")})


_agg_sections = st.fixed_dictionaries({}, optional={k: _trees for k in ("mqtt", "store", "web", "records",
                                                                         "enrolment", "retention_days")})


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=_sections, agg_tree=_agg_sections)
def test_any_config_tree_is_loaded_or_refused_with_key_paths(tree, agg_tree):
    with tempfile.TemporaryDirectory() as d:
        for data, name, load in [(tree, "agent.yaml", load_checked), (agg_tree, "aggregator.yaml", load_aggregator_checked)]:
            f = Path(d) / name
            f.write_text(yaml.safe_dump(data), encoding="utf-8")
            try:
                cfg = load(f)
            except ConfigError as e:
                assert e.problems and all(": " in p for p in e.problems)
                assert not any(m in p for p in e.problems for m in RAW_REGEX_MARKS), e.problems
                continue
            if isinstance(cfg, AgentConfig):
                in_session(cfg.schedule, datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc))  # what run does first


@settings(max_examples=200, deadline=None)
@given(zone=st.one_of(st.text(max_size=40), st.sampled_from(["Europe/London", "Asia/Shanghai", "UTC", "Europe",
                                                              "../etc/passwd", "Europe/Lodnon", "asia/shanghai"])))
def test_any_time_zone_is_usable_or_refused_in_words(zone):
    try:
        cfg = load_config(AgentConfig, None, "CP_TEST", environ={"CP_TEST__SCHEDULE__TIMEZONE": zone})
    except ConfigError as e:
        assert len(e.problems) == 1 and e.problems[0].startswith("schedule.timezone:"), e.problems
        return
    in_session(cfg.schedule, datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc))


@settings(max_examples=200, deadline=None)
@given(start=st.one_of(st.text(max_size=10), st.integers(-100, 100_000), st.floats(allow_nan=False),
                       st.times().map(lambda t: t.isoformat())),
       end=st.times().map(lambda t: t.strftime("%H:%M")))
def test_any_period_is_ordered_or_refused_in_words(start, end):
    tree = {"schedule": {"periods": [{"days": ["mon"], "start": start, "end": end}]}}
    try:
        cfg = AgentConfig.model_validate(tree)
    except Exception as e:  # noqa: BLE001 - only a ValidationError is acceptable, checked below
        from pydantic import ValidationError

        assert isinstance(e, ValidationError)
        return
    p = cfg.schedule.periods[0]
    assert isinstance(start, str) and p.start < p.end


@settings(max_examples=200, deadline=None)
@given(ident=st.text(max_size=80))
def test_any_device_id_is_accepted_iff_it_is_a_topic_safe_name(ident):
    import re

    try:
        AgentConfig.model_validate({"device": {"id": ident}})
        ok = True
    except Exception:  # noqa: BLE001
        ok = False
    assert ok == bool(re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", ident))


@settings(max_examples=150, deadline=None)
@given(env=st.dictionaries(st.builds(lambda path: "CP_TEST__" + "__".join(path),
                                     st.lists(st.sampled_from(["MQTT", "PORT", "SCHEDULE", "TIMEZONE", "DEVICE", "ID",
                                                               "PERIODS", "x", ""]), min_size=1, max_size=3)),
                           st.text(max_size=20), max_size=4))
def test_any_environment_override_is_applied_or_refused_in_words(env):
    try:
        load_config(AgentConfig, None, "CP_TEST", environ=env)
    except ConfigError as e:
        assert e.problems and not any(m in p for p in e.problems for m in RAW_REGEX_MARKS), e.problems
