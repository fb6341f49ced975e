"""Wire contract v1: validation rules, compatibility rule, schema export in sync, fuzzed parser."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classpulse_contract import (
    MAX_PAYLOAD_BYTES,
    Aggregate,
    ContractError,
    dumps,
    parse_aggregate,
    parse_message,
    parse_topic,
    topic,
)
from classpulse_contract.export import SCHEMA_DIR, rendered

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)


def agg(**over) -> dict:
    base = dict(schema="classpulse.agg", version="1.0", msg_id=1, site="s1", room="r1", device="d1",
                window_start=T0.isoformat(), window_end=(T0 + timedelta(seconds=60)).isoformat(),
                policy="full", k_anonymity=5, n_faces=12, attention_share=0.7,
                expression_mix={"happy": 0.5, "neutral": 0.5, "angry": 0, "disgust": 0, "fear": 0, "sad": 0,
                                "surprise": 0},
                speech_share=0.4, engagement=0.6)
    base.update(over)
    return base


def test_roundtrip():
    a = parse_aggregate(json.dumps(agg()))
    assert parse_aggregate(dumps(a)) == a
    assert a.window_start.tzinfo is not None


@pytest.mark.parametrize("over,needle", [
    ({"n_faces": 3}, "k=5"),
    ({"policy": "no-emotion"}, "no-emotion"),
    ({"bogus": 1}, "bogus"),
    ({"attention_share": 1.5}, "attention_share"),
    ({"window_end": T0.isoformat()}, "after"),
    ({"window_end": (T0 + timedelta(hours=1)).isoformat()}, "longer"),
    ({"window_start": "2026-11-25T08:00:00"}, "UTC"),
    ({"version": "2.0"}, "major"),
    ({"expression_mix": {"happy": 0.2}}, "sum to 1"),
    ({"expression_mix": {"smug": 1.0}}, "unknown classes"),
    ({"site": "Bad Site"}, "site"),
    ({"zones": [{"zone": "front", "n_faces": 2, "attention_share": 0.5}]}, "fewer than k"),
    ({"msg_id": True}, "msg_id"),          # numbers are strict: true is not 1
    ({"n_faces": "12"}, "n_faces"),
    ({"n_faces": 12.0}, "n_faces"),
    ({"attention_share": False}, "attention_share"),
])
def test_rejects_with_reason(over, needle):
    with pytest.raises(ContractError) as ei:
        parse_aggregate(json.dumps(agg(**over)))
    assert needle in ei.value.reason


def test_newer_minor_drops_unknown_optional_fields():
    msg, ignored = parse_message(json.dumps(agg(version="1.7", co2_ppm=800)))
    assert ignored == ["co2_ppm"]
    assert isinstance(msg, Aggregate)


def test_same_minor_rejects_unknown_fields():
    with pytest.raises(ContractError):
        parse_message(json.dumps(agg(co2_ppm=800)))


def test_oversize_and_non_json():
    with pytest.raises(ContractError, match="exceeds"):
        parse_aggregate(b"{" + b" " * MAX_PAYLOAD_BYTES + b"}")
    for bad in (b"\xff\xfe", b"[1,2]", b"null", b'{"schema": 5}', b"{"):
        with pytest.raises(ContractError):
            parse_aggregate(bad)


def test_topics():
    t = topic("s1", "r1", "d1", "agg")
    assert t == "classpulse/v1/s1/r1/d1/agg"
    assert parse_topic(t) == {"site": "s1", "room": "r1", "device": "d1", "kind": "agg"}
    for bad in ("classpulse/v1/s1/r1/agg", "classpulse/v1/s1/r1/d1/agg/x", "x/v1/s/r/d/agg",
                "classpulse/v1/S/r/d/agg", "classpulse/v1/+/r/d/agg"):
        with pytest.raises(ContractError):
            parse_topic(bad)


def test_exported_schema_in_sync():
    for name, text in rendered().items():
        path = SCHEMA_DIR / name
        assert path.exists(), f"run python -m classpulse_contract.export ({name} missing)"
        assert path.read_text(encoding="utf-8") == text, f"{name} is stale: run python -m classpulse_contract.export"


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_bytes_never_crash(payload):
    try:
        parse_message(payload)
    except ContractError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(list(agg().keys()) + ["x", "zones", "quality"]), json_values, max_size=12))
def test_fuzz_mutated_fields_never_crash(over):
    try:
        parse_message(json.dumps(agg(**over), allow_nan=True))
    except ContractError:
        pass


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(list(agg().keys()) + ["x", "zones", "quality", "hand_raises", "vision_level"]),
                       json_values, max_size=6),
       st.sampled_from(["1.0", "1.2", "1.9"]))
def test_fast_json_path_accepts_only_what_parse_message_accepts(over, version):
    """Ingest validates aggregates with ``Aggregate.model_validate_json`` first (no json.loads; same strict model)
    and falls back to ``parse_message`` for anything it refuses. So whatever the fast path accepts, parse_message
    must accept too, as the same message with nothing ignored."""
    body = {**agg(version=version), **over}
    payload = json.dumps(body, allow_nan=True).encode()
    try:
        fast = Aggregate.model_validate_json(payload)
    except ValueError:
        return  # refused: ingest takes parse_message's verdict and reason
    slow, ignored = parse_message(payload, "classpulse.agg")
    assert slow == fast
    assert ignored == []


@pytest.mark.parametrize("version", ["1.0", "1.2"])
def test_fast_json_path_takes_a_valid_window(version):
    payload = json.dumps(agg(version=version)).encode()
    assert Aggregate.model_validate_json(payload) == parse_message(payload, "classpulse.agg")[0]
