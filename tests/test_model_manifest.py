"""Model files are loaded only when they match the manifest; evals print the documented JSON."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from edge_agent.inference.manifest import ModelIntegrityError, load_manifest, model_entry
from edge_agent.inference.preprocess import expression_input, face_crop_gray48


def test_bundled_manifest_matches_files():
    for entry in load_manifest().values():
        assert entry.verified_path().exists()


def test_tampered_model_is_refused(tmp_path, repo_root):
    shutil.copytree(repo_root / "models", tmp_path / "models", ignore=shutil.ignore_patterns("*.py", "*.png"))
    man = tmp_path / "models" / "manifest.json"
    entry = model_entry("voice_tone", man)
    data = bytearray(entry.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    entry.path.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="sha256"):
        model_entry("voice_tone", man).verified_path()
    with pytest.raises(ModelIntegrityError, match="no 'nope' model"):
        model_entry("nope", man)


def test_preprocessing_is_one_path():
    faces = np.random.default_rng(0).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    x = expression_input(faces)
    assert x.shape == (3, 48, 48, 1) and x.dtype == np.float32 and x.max() <= 1.0
    img = np.zeros((100, 100, 3), np.uint8)
    img[40:60, 40:60] = 255
    crop = face_crop_gray48(img, (40, 40, 20, 20))
    assert crop.shape == (48, 48) and crop.dtype == np.uint8 and crop[24, 24] == 255
    edge = face_crop_gray48(img, (-5, -5, 20, 20))  # boxes at the frame edge are padded, not crashed
    assert edge.shape == (48, 48)


def test_eval_voice_json(tmp_path):
    from edge_agent.evaluation.voice import run

    rng = np.random.default_rng(1)
    rows = []
    for i, emo in enumerate(["angry", "sad", "neutral"]):
        t = np.arange(16000) / 16000
        y = (0.3 * np.sin(2 * np.pi * (120 + 40 * i) * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
             + 0.01 * rng.standard_normal(16000)).astype(np.float32)
        sf.write(tmp_path / f"f{i}.wav", y, 16000)
        rows.append({"file": f"f{i}.wav", "speaker": "x", "emotion": emo})
    with (tmp_path / "labels.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["file", "speaker", "emotion"])
        w.writeheader()
        w.writerows(rows)
    r = run(tmp_path)
    assert r["n"] == 3 and set(r) >= {"n", "accuracy", "uar", "per_class", "rtf"}
    json.dumps(r)


@pytest.mark.skipif("expression" not in load_manifest(), reason="expression model not in the manifest")
def test_eval_expression_json(tmp_path):
    from edge_agent.evaluation.expression import run

    rng = np.random.default_rng(2)
    np.savez(tmp_path / "t.npz", x_test=rng.integers(0, 256, (20, 48, 48), dtype=np.uint8),
             y_test=rng.integers(0, 7, 20))
    r = run(tmp_path / "t.npz")
    assert r["n"] == 20 and set(r) >= {"n", "accuracy", "per_class", "ms_per_face"}
    assert set(r["per_class"]) == {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}
