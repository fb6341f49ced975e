"""Write models/manifest.json from the model files present (names, versions, sha256, classes, input spec).

Run after training: ``python models/build_manifest.py``. The agent refuses any file whose sha256
does not match this manifest.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODELS = {
    "expression": {
        "file": "expression/expression_int8.tflite", "version": "2.1.0",
        "classes": ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"],
        "labels": {"en": ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"],
                   "zh": ["生气", "厌恶", "害怕", "高兴", "难过", "惊讶", "平静"]},
        "input": {"shape": [1, 48, 48, 1], "dtype": "int8 (quantised from float32 in [0,1])",
                  "preprocess": "edge_agent.inference.preprocess.expression_input"},
    },
    "voice_tone": {
        "file": "voice/voice_tone.tflite", "version": "2.2.0",
        "classes": ["angry", "boredom", "disgust", "fear", "happy", "neutral", "sad"],
        "labels": {"en": ["angry", "boredom", "disgust", "fear", "happy", "neutral", "sad"],
                   "zh": ["生气", "无聊", "厌恶", "害怕", "高兴", "平静", "难过"]},
        "input": {"shape": [1, 576], "dtype": "float32",
                  "preprocess": "edge_agent.audio.features.utterance_features (16 kHz mono; last two values = decay and SNR estimates)"},
    },
    "face": {
        "file": "faces/face_int8.tflite", "version": "1.1.0", "kind": "detector",
        "classes": ["face"], "labels": {"en": ["face"], "zh": ["人脸"]},
        "input": {"shape": [1, 640, 640, 3], "dtype": "float32 RGB in [0, 255] (int8 inside); any size, "
                  "each side a multiple of 32 (resized per frame)",
                  "preprocess": "edge_agent.vision.cpface.to_input"},
        "outputs": "per stride 8/16/32: face logit (1), log box sides (4), six keypoints (12); "
                   "edge_agent.vision.cpface.decode",
    },
    "overlap": {
        "file": "overlap/overlap_mlp.npz", "version": "1.0.0",
        "classes": ["single", "overlap"],
        "labels": {"en": ["one voice", "overlapping voices"], "zh": ["单人说话", "多人同时说话"]},
        "input": {"shape": [1, 40], "dtype": "float32 (NumPy .npz of plain arrays, no pickles)",
                  "preprocess": "edge_agent.audio.overlap.OverlapDetector.features (10 ms frames inside speech)"},
    },
}


def main() -> None:
    out = {"schema": "classpulse.models", "models": {}}
    for name, m in MODELS.items():
        path = HERE / m["file"]
        if not path.exists():
            print(f"skipping {name}: {m['file']} not found")
            continue
        out["models"][name] = {**m, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                               "bytes": path.stat().st_size}
    (HERE / "manifest.json").write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {HERE / 'manifest.json'} with {', '.join(out['models'])}")


if __name__ == "__main__":
    main()
