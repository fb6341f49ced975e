"""``edge-agent models keygen|sign|pack|verify``: the release manager's side of signed model bundles.

    edge-agent models keygen --out keys/classpulse-models          # once; keep the .key offline
    edge-agent models sign --bundle DIR --key keys/classpulse-models.key
    edge-agent models pack --bundle DIR --out models-release-3.tar.gz
    edge-agent models verify --bundle models-release-3.tar.gz --pubkey keys/classpulse-models.pub
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

from edge_agent.model_bundle import (
    BundleError,
    generate_keypair,
    load_public_keys,
    load_signing_key,
    pack,
    sign_manifest,
    unpack,
    verify_bundle,
)


def main(args: argparse.Namespace) -> int:
    try:
        if args.models_cmd == "keygen":
            priv, pub = generate_keypair(Path(args.out))
            out: dict = {"private_key": str(priv), "public_key": str(pub)}
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
    except (BundleError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(out))
    return 0


def add_arguments(ap: argparse.ArgumentParser) -> None:
    sub = ap.add_subparsers(dest="models_cmd", required=True)
    k = sub.add_parser("keygen", help="new Ed25519 key pair: PREFIX.key (private, 0600) and PREFIX.pub")
    k.add_argument("--out", required=True, help="path prefix")
    s = sub.add_parser("sign", help="sign a bundle directory's manifest.json (its files are checked first)")
    s.add_argument("--bundle", required=True)
    s.add_argument("--key", required=True)
    p = sub.add_parser("pack", help="tar.gz a signed bundle directory; prints its sha256 for the update command")
    p.add_argument("--bundle", required=True)
    p.add_argument("--out", required=True)
    v = sub.add_parser("verify", help="verify a bundle directory or archive against trusted public keys")
    v.add_argument("--bundle", required=True)
    v.add_argument("--pubkey", required=True, action="append")
