"""The privacy scanner itself must catch what it claims to catch (else the privacy tests prove nothing)."""

from __future__ import annotations

import base64
import io
import json
import wave

import cv2
import numpy as np
import pytest

from tests._privacy_scan import findings, scan_json_payload

pytestmark = pytest.mark.privacy


def _jpeg() -> bytes:
    img = (np.random.default_rng(0).random((48, 48)) * 255).astype(np.uint8)
    return cv2.imencode(".jpg", img)[1].tobytes()


def _wav() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.random.default_rng(1).normal(0, 3000, 16000)).astype(np.int16).tobytes())
    return buf.getvalue()


def test_catches_raw_media():
    assert findings(b"xx" + _jpeg())
    assert findings(_wav())
    assert findings(np.random.default_rng(2).bytes(10_000))


def test_catches_encoded_media_and_vectors():
    assert scan_json_payload(json.dumps({"x": base64.b64encode(_jpeg()).decode()}).encode())
    assert scan_json_payload(json.dumps({"v": list(np.linspace(0, 1, 128))}).encode())
    assert scan_json_payload(json.dumps({"face_landmarks": [1, 2]}).encode())


def test_clean_aggregate_passes():
    payload = json.dumps({"n_faces": 23, "attention_share": 0.71,
                          "expression_mix": {"happy": 0.3, "neutral": 0.7}, "quality": []}).encode()
    assert scan_json_payload(payload) == []
