"""Contract 1.1 (per-signal coverage): additive for a 1.0 reader, and a 1.1 reader still takes 1.0.

The 1.0 reader here is the released 1.0 module itself, read from git history, not a re-creation.
"""

from __future__ import annotations

import json
import subprocess
import sys
import types
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from classpulse_contract import CONTRACT_VERSION, ContractError, dumps, parse_aggregate, parse_message

REPO = Path(__file__).resolve().parents[1]
#: the last commit whose contract was 1.0
V1_0_COMMIT = "da813894ab04331db8ac1d5d103f262b96cc985a"
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)


def reader_1_0() -> types.ModuleType:
    try:
        src = subprocess.run(["git", "-C", str(REPO), "show", f"{V1_0_COMMIT}:classpulse_contract/v1.py"],
                             check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:  # a source tarball without history
        pytest.skip(f"the 1.0 contract is not in this checkout's history: {e}")
    mod = types.ModuleType("contract_1_0")
    sys.modules["contract_1_0"] = mod  # pydantic resolves annotations through the module
    exec(compile(src, "contract_1_0.py", "exec"), mod.__dict__)  # noqa: S102 - our own released source
    assert mod.CONTRACT_MINOR == 0
    return mod


def agg(**over) -> dict:
    d = dict(schema="classpulse.agg", version=CONTRACT_VERSION, msg_id=1, site="s1", room="r1", device="d1",
             window_start=T0.isoformat(), window_end=(T0 + timedelta(seconds=60)).isoformat(),
             policy="no-emotion", k_anonymity=5, n_faces=12, attention_share=0.7, speech_share=0.4,
             engagement=0.6, vision_coverage=0.9, audio_coverage=1.0, vision_level=1,
             coverage_flags=["vision_degraded"])
    d.update(over)
    return d


def test_version_is_1_1_and_roundtrips():
    assert CONTRACT_VERSION == "1.2"  # 1.1 coverage, then 1.2 end-to-end acks (test_acks, test_delivery_e2e)
    a = parse_aggregate(json.dumps(agg()))
    assert parse_aggregate(dumps(a)) == a and a.coverage_flags[0].value == "vision_degraded"


def test_a_1_0_reader_accepts_a_measured_1_1_window_and_ignores_the_new_fields():
    old = reader_1_0()
    msg, ignored = old.parse_message(json.dumps(agg()))
    assert ignored == ["audio_coverage", "coverage_flags", "vision_coverage", "vision_level"]
    assert msg.n_faces == 12 and msg.attention_share == 0.7


def test_a_1_0_reader_refuses_a_not_measured_count_with_a_reason_instead_of_storing_zero():
    old = reader_1_0()
    with pytest.raises(old.ContractError, match="n_faces"):
        old.parse_message(json.dumps(agg(n_faces=None, attention_share=None, coverage_flags=["vision_starved"])))


def test_a_1_1_reader_takes_1_0_messages_and_keeps_their_meaning():
    d = agg(version="1.0")
    for k in ("vision_coverage", "audio_coverage", "vision_level", "coverage_flags"):
        d.pop(k)
    msg, ignored = parse_message(json.dumps(d))
    assert ignored == [] and msg.n_faces == 12 and msg.coverage_flags == []
    with pytest.raises(ContractError, match="only from contract 1.1"):
        parse_aggregate(json.dumps({**d, "n_faces": None}))


@pytest.mark.parametrize("over,needle", [
    ({"coverage_flags": ["camera_sad"]}, "coverage_flags"),
    ({"vision_coverage": 1.5}, "vision_coverage"),
    ({"vision_level": -1}, "vision_level"),
    ({"vision_level": True}, "vision_level"),
    ({"n_faces": None, "expression_mix": {"happy": 1.0}, "policy": "full"}, "k="),
])
def test_1_1_fields_are_strict(over, needle):
    with pytest.raises(ContractError) as ei:
        parse_aggregate(json.dumps(agg(**over)))
    assert needle in ei.value.reason


def test_health_1_1_carries_target_and_level():
    h = {"schema": "classpulse.health", "version": "1.1", "device": "d1", "ts": T0.isoformat(), "uptime_s": 5.0,
         "fps": 0.3, "target_fps": 1.0, "vision_level": 2, "vision_level_name": "no-mesh"}
    msg, _ = parse_message(json.dumps(h))
    assert msg.target_fps == 1.0 and msg.vision_level == 2
    _, ignored = reader_1_0().parse_message(json.dumps(h))
    assert ignored == ["target_fps", "vision_level", "vision_level_name"]
