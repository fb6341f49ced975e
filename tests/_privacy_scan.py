"""Scanners that look for media or biometric data where only aggregates may be.

Used by the privacy tests on payloads, outbox rows, logs and every file an agent
run writes. They look for: container/codec magic numbers (JPEG, PNG, GIF, BMP,
WebP, TIFF, WAV, FLAC, Ogg, MP3, MP4, NumPy), base64 runs that decode to binary,
long numeric arrays (embeddings, landmarks, sample runs) and raw high-entropy
binary runs.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections import Counter
from pathlib import Path

MAGIC = {
    b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG", b"GIF8": "GIF", b"RIFF": "RIFF (WAV/WebP/AVI)",
    b"fLaC": "FLAC", b"OggS": "Ogg", b"ID3": "MP3", b"\x93NUMPY": "NumPy array", b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF", b"ftyp": "MP4/MOV", b"\x1aE\xdf\xa3": "Matroska/WebM",
}
B64_RUN = re.compile(rb"[A-Za-z0-9+/]{200,}={0,2}")
NUM = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
NUM_ARRAY = re.compile(rf"\[\s*{NUM}(?:\s*,\s*{NUM}){{63,}}\s*\]")
#: Longest numeric JSON array an aggregate may legitimately hold (mixes have 7 entries).
MAX_NUMBERS_IN_ARRAY = 64


def entropy(b: bytes) -> float:
    if not b:
        return 0.0
    n = len(b)
    return -sum(c / n * math.log2(c / n) for c in Counter(b).values())


def findings(blob: bytes, where: str = "") -> list[str]:
    """Every reason to believe ``blob`` holds image, audio or biometric data (empty list: clean)."""
    out = []
    for magic, name in MAGIC.items():
        idx = blob.find(magic)
        if idx >= 0 and not (name == "MP4/MOV" and blob[max(0, idx - 4):idx] == b""):
            out.append(f"{where}: {name} signature at byte {idx}")
    for m in B64_RUN.finditer(blob):
        try:
            dec = base64.b64decode(m.group(0) + b"=" * (-len(m.group(0)) % 4))
        except ValueError:
            continue
        if entropy(dec) > 6.0 or any(dec.startswith(k) for k in MAGIC):
            out.append(f"{where}: base64 blob of {len(dec)} bytes at {m.start()}")
    text = blob.decode("utf-8", errors="replace")
    for m in NUM_ARRAY.finditer(text):
        out.append(f"{where}: numeric array of {m.group(0).count(',') + 1} values at {m.start()}")
    # raw binary: a 4 KiB window of near-random bytes that is not valid UTF-8 text
    for i in range(0, max(0, len(blob) - 4096) + 1, 4096):
        win = blob[i:i + 4096]
        if len(win) == 4096 and entropy(win) > 7.5:
            out.append(f"{where}: high-entropy binary at byte {i}")
            break
    return out


def _contract_fields() -> set[str]:
    from classpulse_contract.v1 import MESSAGE_TYPES, ZoneStat

    names: set[str] = set()
    for model in (*MESSAGE_TYPES.values(), ZoneStat):
        names |= {f.alias or n for n, f in model.model_fields.items()}
    return names


CONTRACT_FIELDS = _contract_fields()


def scan_json_payload(payload: bytes, where: str = "payload") -> list[str]:
    out = findings(payload, where)
    try:
        data = json.loads(payload)
    except ValueError:
        return out + [f"{where}: not JSON"]

    def walk(x: object, path: str) -> None:
        if isinstance(x, list):
            if len(x) > MAX_NUMBERS_IN_ARRAY:
                out.append(f"{where}: list of {len(x)} items at {path}")
            for i, v in enumerate(x):
                walk(v, f"{path}[{i}]")
        elif isinstance(x, dict):
            for k, v in x.items():
                if k not in CONTRACT_FIELDS and re.search(
                        r"(image|frame|crop|pixel|jpeg|png|audio|sample|pcm|wave|embedding|landmark|mesh)", str(k), re.I):
                    out.append(f"{where}: suspicious key {path}.{k}")
                walk(v, f"{path}.{k}")
        elif isinstance(x, str) and len(x) > 512:
            out.append(f"{where}: long string ({len(x)} chars) at {path}")

    walk(data, "$")
    return out


def scan_tree(root: Path, skip_suffixes: tuple[str, ...] = ()) -> list[str]:
    """Scan every file under ``root`` (SQLite files too: their pages are scanned as bytes)."""
    out = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.name.endswith(skip_suffixes):
            out += findings(p.read_bytes(), str(p.relative_to(root)))
    return out
