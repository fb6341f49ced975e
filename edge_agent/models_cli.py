"""``edge-agent models keygen|sign|pack|verify``: the release manager's side of signed model bundles.

    edge-agent models keygen --out keys/classpulse-models          # once; keep the .key offline
    edge-agent models init --manifest models/manifest.json --release 3 --out DIR
    edge-agent models selftest --bundle DIR --model voice_tone --inputs tone-inputs.npy   # optional
    edge-agent models sign --bundle DIR --key keys/classpulse-models.key
    edge-agent models pack --bundle DIR --out models-release-3.tar.gz
    edge-agent models verify --bundle models-release-3.tar.gz --pubkey keys/classpulse-models.pub
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

from edge_agent.inference.manifest import ModelIntegrityError
from edge_agent.model_bundle import (
    MANIFEST,
    BundleError,
    generate_keypair,
    load_public_keys,
    load_signing_key,
    pack,
    sign_manifest,
    unpack,
    verify_bundle,
)


def init_bundle(manifest: Path, release: int, out: Path) -> Path:
    """A bundle directory holding exactly the files ``manifest`` lists (sha256-checked) and a release number."""
    from edge_agent.model_bundle import SIGNATURE, check_files

    src = manifest.parent
    data = json.loads(manifest.read_text(encoding="utf-8"))
    out.mkdir(parents=True, exist_ok=False)
    for m in data["models"].values():
        for entry in (m, m.get("selftest")):
            if entry:
                (out / entry["file"]).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src / entry["file"], out / entry["file"])
    data["release"] = release
    (out / MANIFEST).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / SIGNATURE).unlink(missing_ok=True)
    check_files(out)
    return out


def add_selftest(bundle: Path, model: str, inputs: Path, min_agreement: float) -> dict:
    """Run ``model`` on ``inputs`` (.npy, the model's input shape per row) and record the answers as its
    self-test: the device must reproduce them (at least ``min_agreement``) before it switches to the bundle."""
    import numpy as np

    from edge_agent.inference.manifest import load_manifest
    from edge_agent.model_updates import model_runner

    entry = load_manifest(bundle / MANIFEST).get(model)
    if entry is None:
        raise BundleError(f"the bundle has no model {model!r}")
    x = np.load(inputs, allow_pickle=False).astype(np.float32)
    y = model_runner(entry.verified_path())[1](x).argmax(axis=-1)
    rel = Path(entry.path).relative_to(bundle.resolve()).parent / f"{model}-selftest.npz"
    np.savez(bundle / rel, x=x, y=y)
    data = json.loads((bundle / MANIFEST).read_text(encoding="utf-8"))
    data["models"][model]["selftest"] = {"file": rel.as_posix(), "min_agreement": min_agreement,
                                         "sha256": hashlib.sha256((bundle / rel).read_bytes()).hexdigest()}
    (bundle / MANIFEST).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return {"selftest": rel.as_posix(), "inputs": len(x),
            "classes": {entry.classes[i]: int((y == i).sum()) for i in sorted(set(y.tolist()))}}


def main(args: argparse.Namespace) -> int:
    try:
        if args.models_cmd == "keygen":
            priv, pub = generate_keypair(Path(args.out))
            out: dict = {"private_key": str(priv), "public_key": str(pub)}
        elif args.models_cmd == "init":
            out = {"bundle": str(init_bundle(Path(args.manifest), args.release, Path(args.out)))}
        elif args.models_cmd == "selftest":
            out = add_selftest(Path(args.bundle), args.model, Path(args.inputs), args.min_agreement)
        elif args.models_cmd == "sign":
            out = {"signature": str(sign_manifest(Path(args.bundle), load_signing_key(Path(args.key))))}
        elif args.models_cmd == "pack":
            archive = pack(Path(args.bundle), Path(args.out))
            out = {"archive": str(archive), "sha256": hashlib.sha256(archive.read_bytes()).hexdigest()}
        else:
            bundle = Path(args.bundle)
            with tempfile.TemporaryDirectory() as tmp:
                d = unpack(bundle, Path(tmp) / "b") if bundle.is_file() else bundle
                v = verify_bundle(d, load_public_keys([Path(p) for p in args.pubkey]))
            out = {"ok": True, "release": v.release, "models": v.models, "key_id": v.key_id}
    except (BundleError, ModelIntegrityError, OSError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(out))
    return 0


def add_arguments(ap: argparse.ArgumentParser) -> None:
    sub = ap.add_subparsers(dest="models_cmd", required=True)
    k = sub.add_parser("keygen", help="new Ed25519 key pair: PREFIX.key (private, 0600) and PREFIX.pub")
    k.add_argument("--out", required=True, help="path prefix")
    i = sub.add_parser("init", help="new bundle directory with exactly the files a manifest lists, and a release number")
    i.add_argument("--manifest", required=True, help="e.g. models/manifest.json after build_manifest.py")
    i.add_argument("--release", required=True, type=int, help="higher than any release devices have")
    i.add_argument("--out", required=True)
    t = sub.add_parser("selftest", help="record a model's answers on test inputs; devices must reproduce them")
    t.add_argument("--bundle", required=True)
    t.add_argument("--model", required=True)
    t.add_argument("--inputs", required=True, help=".npy of inputs in the model's shape (one per row)")
    t.add_argument("--min-agreement", type=float, default=0.9)
    s = sub.add_parser("sign", help="sign a bundle directory's manifest.json (its files are checked first)")
    s.add_argument("--bundle", required=True)
    s.add_argument("--key", required=True)
    p = sub.add_parser("pack", help="tar.gz a signed bundle directory; prints its sha256 for the update command")
    p.add_argument("--bundle", required=True)
    p.add_argument("--out", required=True)
    v = sub.add_parser("verify", help="verify a bundle directory or archive against trusted public keys")
    v.add_argument("--bundle", required=True)
    v.add_argument("--pubkey", required=True, action="append")
