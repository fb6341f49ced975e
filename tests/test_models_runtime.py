"""Committed models: they load through the manifest, refuse tampered bytes, and share one preprocessing path."""

from __future__ import annotations

import ast
import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from classpulse_contract import EXPRESSION_CLASSES, TONE_CLASSES
from edge_agent.inference.manifest import DEFAULT_MANIFEST, ModelIntegrityError, load_manifest, sha256_file
from edge_agent.inference.preprocess import expression_input, face_crop_gray48

REPO = Path(__file__).resolve().parents[1]
MANIFEST = load_manifest()


def _needs(name: str) -> None:
    if name not in MANIFEST:
        pytest.skip(f"{name} model not committed in models/manifest.json yet")


def test_manifest_entries_are_complete_and_match_their_files():
    raw = json.loads(DEFAULT_MANIFEST.read_text(encoding="utf-8"))["models"]
    assert "voice_tone" in raw
    expected = {"expression": EXPRESSION_CLASSES, "voice_tone": TONE_CLASSES, "overlap": ("single", "overlap"),
                "face": ("face",)}
    for name, entry in MANIFEST.items():
        assert entry.classes == expected[name]
        assert len(entry.labels["zh"]) == len(entry.classes) == len(entry.labels["en"])
        assert entry.path.stat().st_size < 2_000_000, "models must stay small for the box"
        assert sha256_file(entry.path) == entry.sha256 == raw[name]["sha256"]
        assert entry.verified_path() == entry.path


def _tampered_copy(tmp_path: Path, name: str) -> Path:
    entry = MANIFEST[name]
    raw = json.loads(DEFAULT_MANIFEST.read_text(encoding="utf-8"))
    rel = raw["models"][name]["file"]
    dst = tmp_path / rel
    dst.parent.mkdir(parents=True)
    shutil.copy(entry.path, dst)
    data = bytearray(dst.read_bytes())
    data[len(data) // 2] ^= 0x01
    dst.write_bytes(bytes(data))
    (tmp_path / "manifest.json").write_text(json.dumps(raw), encoding="utf-8")
    return tmp_path / "manifest.json"


def test_tampered_voice_model_is_refused(tmp_path):
    from edge_agent.audio.tone import ToneClassifier

    manifest = _tampered_copy(tmp_path, "voice_tone")
    with pytest.raises(ModelIntegrityError, match="sha256"):
        ToneClassifier(manifest)


def test_tampered_expression_model_is_refused(tmp_path):
    _needs("expression")
    from edge_agent.vision.expression import ExpressionClassifier

    manifest = _tampered_copy(tmp_path, "expression")
    with pytest.raises(ModelIntegrityError, match="sha256"):
        ExpressionClassifier(manifest)


def test_missing_model_file_is_refused(tmp_path):
    manifest = _tampered_copy(tmp_path, "voice_tone")
    for f in tmp_path.rglob("*.tflite"):
        f.unlink()
    from edge_agent.audio.tone import ToneClassifier

    with pytest.raises(ModelIntegrityError, match="missing"):
        ToneClassifier(manifest)


def test_tone_classifier_gives_probabilities_and_depends_on_the_audio():
    from edge_agent.audio.tone import ToneClassifier

    clf = ToneClassifier(threads=1)
    assert clf.version.startswith("voice-tone-")
    t = np.arange(32000) / 16000
    rng = np.random.default_rng(0)
    calm = (0.05 * np.sin(2 * np.pi * 120 * t) * (1 + 0.2 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    loud = (0.8 * np.sign(np.sin(2 * np.pi * 260 * t * (1 + 0.3 * t))) + 0.1 * rng.standard_normal(len(t)))
    outs = [clf.predict(x.astype(np.float32)) for x in (calm, loud)]
    for p in outs:
        assert p.shape == (len(TONE_CLASSES),)
        assert np.all(p >= 0) and abs(p.sum() - 1) < 1e-4
    # synthetic tones are far from speech, so compare in log space: the features must reach the model
    assert np.abs(np.log(outs[0] + 1e-12) - np.log(outs[1] + 1e-12)).max() > 1.0


def test_expression_classifier_batches_match_single_rows():
    _needs("expression")
    from edge_agent.vision.expression import ExpressionClassifier

    clf = ExpressionClassifier(threads=1)
    faces = np.random.default_rng(1).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    p = clf.predict(faces)
    assert p.shape == (5, 7)
    assert np.allclose(p.sum(1), 1, atol=1e-4)
    assert np.allclose(p[2], clf.predict(faces[2:3])[0], atol=1e-5)
    assert clf.predict(np.zeros((0, 48, 48), np.uint8)).shape == (0, 7)


@pytest.mark.parametrize("name", ["expression", "voice_tone"])
def test_both_tflite_runtimes_load_every_model_and_agree(name):
    """The box ships LiteRT; tflite-runtime 2.14 stays supported: same API, same answers (int8 to a few steps)."""
    from edge_agent.inference.tflite import RUNTIMES, TFLiteRunner

    _needs(name)
    path = MANIFEST[name].verified_path()
    runners = [TFLiteRunner(path, threads=1, runtime=rt) for rt in RUNTIMES]  # the dev extra installs both
    assert [r.runtime for r in runners] == list(RUNTIMES)
    rng = np.random.default_rng(4)
    x = rng.random((3, *runners[0].input_shape[1:]), dtype=np.float32)
    if name == "voice_tone":
        x = rng.standard_normal((3, *runners[0].input_shape[1:])).astype(np.float32)
    a, b = (r.run(x) for r in runners)
    assert a.shape == b.shape == (3, 7)
    # XNNPACK and the reference int8 kernels round differently layer by layer: a few output steps (1/256)
    assert np.abs(a - b).max() <= 8 / 256, np.abs(a - b).max()
    assert (a.argmax(1) == b.argmax(1)).sum() >= 2


def test_unknown_tflite_runtime_is_a_clear_error(tmp_path):
    from edge_agent.inference.tflite import interpreter_class

    with pytest.raises(ImportError, match="no TFLite runtime"):
        interpreter_class("no_such_runtime")  # type: ignore[arg-type]


def test_expression_flip_tta_makes_a_face_and_its_mirror_agree():
    _needs("expression")
    from edge_agent.vision.expression import ExpressionClassifier

    faces = np.random.default_rng(3).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    tta, plain = ExpressionClassifier(threads=1), ExpressionClassifier(threads=1, flip_tta=False)
    assert np.allclose(tta.predict(faces), tta.predict(faces[:, :, ::-1]), atol=1e-6)
    assert not np.allclose(plain.predict(faces), plain.predict(faces[:, :, ::-1]), atol=1e-3)


def test_expression_input_is_scaled_and_shape_checked():
    faces = np.array([[[0, 255] * 24] * 48], dtype=np.uint8)
    x = expression_input(faces)
    assert x.shape == (1, 48, 48, 1) and x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == 1.0
    assert expression_input(faces[0]).shape == (1, 48, 48, 1)
    with pytest.raises(ValueError, match="48"):
        expression_input(np.zeros((2, 64, 64), np.uint8))


def test_face_crop_is_square_gray_48_and_survives_edges():
    img = np.zeros((120, 160, 3), np.uint8)
    img[40:80, 60:100] = (0, 0, 255)  # a red "face"
    crop = face_crop_gray48(img, (60, 40, 40, 40))
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    assert crop[24, 24] == 76  # BT.601 luma of pure red, so grayscale conversion happened on BGR
    edge = face_crop_gray48(img, (-10, -10, 30, 50))  # box partly outside the frame
    assert edge.shape == (48, 48)


def _imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def test_training_eval_and_agent_share_one_preprocessing_path():
    shared = "edge_agent.inference.preprocess.expression_input"
    assert shared in _imports_of(REPO / "models/expression/train.py")
    assert shared in _imports_of(REPO / "edge_agent/vision/expression.py")
    feats = "edge_agent.audio.features.utterance_features"
    assert feats in _imports_of(REPO / "models/voice/train.py")
    assert feats in _imports_of(REPO / "edge_agent/audio/tone.py")


def _tiny_voice_dir(tmp_path: Path) -> Path:
    import soundfile as sf

    rng = np.random.default_rng(2)
    t = np.arange(16000) / 16000
    with (tmp_path / "labels.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "speaker", "emotion"])
        for i, emo in enumerate(TONE_CLASSES):
            y = 0.3 * np.sin(2 * np.pi * (110 + 30 * i) * t) + 0.02 * rng.standard_normal(len(t))
            sf.write(tmp_path / f"u{i}.flac", y.astype(np.float32), 16000)
            w.writerow([f"u{i}.flac", "99", emo])
    return tmp_path


def test_eval_voice_prints_json_with_every_file_scored(tmp_path):
    data = _tiny_voice_dir(tmp_path)
    out = subprocess.run([sys.executable, "-m", "edge_agent.evaluation.voice", "--data", str(data)],
                         capture_output=True, text=True, cwd=REPO, timeout=120, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["n"] == len(TONE_CLASSES)
    assert set(res["per_class"]) == set(TONE_CLASSES)
    assert 0 <= res["accuracy"] <= 1 and 0 <= res["uar"] <= 1 and res["rtf"] > 0


def test_eval_voice_rejects_unknown_label(tmp_path):
    from edge_agent.evaluation.voice import run

    data = _tiny_voice_dir(tmp_path)
    text = (data / "labels.csv").read_text(encoding="utf-8").replace(",sad", ",sarcastic")
    (data / "labels.csv").write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="sarcastic"):
        run(data)


def test_eval_expression_prints_json(tmp_path):
    _needs("expression")
    rng = np.random.default_rng(3)
    f = tmp_path / "tiny.npz"
    np.savez(f, x_test=rng.integers(0, 256, (20, 48, 48), dtype=np.uint8), y_test=np.arange(20) % 7)
    out = subprocess.run([sys.executable, "-m", "edge_agent.evaluation.expression", "--data", str(f)],
                         capture_output=True, text=True, cwd=REPO, timeout=120, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["n"] == 20 and set(res["per_class"]) == set(EXPRESSION_CLASSES)
    assert 0 <= res["accuracy"] <= 1 and res["ms_per_face"] > 0


def test_eval_expression_rejects_npz_without_test_arrays(tmp_path):
    from edge_agent.evaluation.expression import run

    f = tmp_path / "bad.npz"
    np.savez(f, x_train=np.zeros((1, 48, 48), np.uint8))
    with pytest.raises(ValueError, match="x_test"):
        run(f)


def test_tilted_face_is_rotated_upright_from_its_eye_keypoints():
    import cv2

    img = np.full((200, 200, 3), 90, np.uint8)
    cv2.circle(img, (85, 90), 6, (255, 255, 255), -1)   # the subject's right eye (image left)
    cv2.circle(img, (115, 90), 6, (255, 255, 255), -1)  # left eye
    cv2.ellipse(img, (100, 118), (14, 5), 0, 0, 360, (20, 20, 20), -1)  # mouth
    box, eyes = (75.0, 75.0, 50.0, 60.0), ((85.0, 90.0), (115.0, 90.0))
    upright = face_crop_gray48(img, box, eyes).astype(int)
    assert np.array_equal(upright, face_crop_gray48(img, box).astype(int)), "level eyes: no resampling"
    m = cv2.getRotationMatrix2D((100, 105), -25, 1.0)  # the head tilts 25° clockwise
    tilted = cv2.warpAffine(img, m, (200, 200), borderMode=cv2.BORDER_REPLICATE)
    te = tuple(tuple(float(v) for v in m @ np.array([x, y, 1.0])) for x, y in eyes)
    aligned = face_crop_gray48(tilted, box, te).astype(int)
    naive = face_crop_gray48(tilted, box).astype(int)
    assert np.abs(aligned - upright).mean() < 0.5 * np.abs(naive - upright).mean()
