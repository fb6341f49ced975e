"""``models/manifest.json``: which model files the agent may load, with their sha256, classes and input spec.

A model whose bytes do not match the manifest's sha256 is refused: a swapped or
corrupted file must not run on a classroom device.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MANIFEST = Path(__file__).resolve().parents[2] / "models" / "manifest.json"


class ModelIntegrityError(Exception):
    pass


@dataclass(frozen=True)
class ModelEntry:
    name: str
    version: str
    path: Path
    sha256: str
    classes: tuple[str, ...]
    labels: dict[str, tuple[str, ...]]
    input: dict

    def verified_path(self) -> Path:
        if not self.path.exists():
            raise ModelIntegrityError(f"model file {self.path.name} is missing")
        digest = hashlib.sha256(self.path.read_bytes()).hexdigest()
        if digest != self.sha256:
            raise ModelIntegrityError(f"model file {self.path.name} does not match the manifest's sha256")
        return self.path


def load_manifest(path: Path | None = None) -> dict[str, ModelEntry]:
    path = Path(path) if path else DEFAULT_MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"model manifest {path} not found")
    data = json.loads(path.read_text(encoding="utf-8"))
    out = {}
    for name, m in data["models"].items():
        out[name] = ModelEntry(name=name, version=m["version"], path=(path.parent / m["file"]).resolve(),
                               sha256=m["sha256"], classes=tuple(m["classes"]),
                               labels={k: tuple(v) for k, v in m.get("labels", {}).items()}, input=m["input"])
    return out


def model_entry(name: str, path: Path | None = None) -> ModelEntry:
    """The manifest entry ``name`` or a plain error saying which model is missing."""
    models = load_manifest(path)
    if name not in models:
        raise ModelIntegrityError(f"the model manifest has no {name!r} model (have: {', '.join(models) or 'none'})")
    return models[name]


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
