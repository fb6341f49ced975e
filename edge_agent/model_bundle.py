"""Signed model bundles: verify, install side by side, switch atomically, roll back.

A bundle is a ``manifest.json`` (the same format as ``models/manifest.json``: every
model file with its sha256) plus the model files and ``manifest.json.sig``: an
Ed25519 signature (PyNaCl) over the manifest's exact bytes. Signing the manifest
signs every file through its hash. For transport a bundle is a ``.tar.gz`` of
that directory.

On the device, bundles live under ``models.dir``::

    releases/<release>-<sha8>/   manifest.json, manifest.json.sig, files
    current  -> releases/...     what the agent loads
    previous -> releases/...     what ``rollback`` returns to

``current`` is replaced with ``os.replace`` of a fresh symlink, so a power cut
leaves either the old or the new release active, never half of one. A bundle is
refused when its signature is missing or made by a key the device does not
trust, when any file is missing, extra or altered, when its ``release`` number
is not above the installed one (no downgrade by replay; ``rollback`` is the
one way back), or when an archive member is not a plain file inside the bundle.

Limits: the signing key is the whole trust anchor. Keep it offline (a USB key
or an HSM, not the aggregator); if it leaks, ship a new public key to every
device via provisioning. There is no revocation list.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.sig"
MAX_ARCHIVE_BYTES = 64 * 1024 * 1024
MAX_MEMBERS = 64
UNPACKED_CAP = 4 * MAX_ARCHIVE_BYTES  # declared sizes, checked before inflating


class BundleError(Exception):
    """A bundle that must not be installed; the message says why in plain words."""


# --- keys ---------------------------------------------------------------------------------------------

def key_id(verify_key: VerifyKey) -> str:
    return hashlib.sha256(bytes(verify_key)).hexdigest()[:16]


def generate_keypair(prefix: Path) -> tuple[Path, Path]:
    """Write ``<prefix>.key`` (private, mode 0600) and ``<prefix>.pub``; return their paths."""
    sk = SigningKey.generate()
    priv, pub = Path(f"{prefix}.key"), Path(f"{prefix}.pub")
    fd = os.open(priv, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(base64.b64encode(bytes(sk)).decode() + "\n")
    pub.write_text(base64.b64encode(bytes(sk.verify_key)).decode() + "\n", encoding="utf-8")
    return priv, pub


def load_signing_key(path: Path) -> SigningKey:
    return SigningKey(base64.b64decode(Path(path).read_text(encoding="utf-8").strip()))


def load_public_keys(paths: Iterable[Path]) -> dict[str, VerifyKey]:
    """Trusted keys by key id; a file may hold several keys, one per line (for key rotation)."""
    keys: dict[str, VerifyKey] = {}
    for p in paths:
        for line in Path(p).read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                vk = VerifyKey(base64.b64decode(line))
                keys[key_id(vk)] = vk
    return keys


# --- signing and verifying ------------------------------------------------------------------------------

def sign_manifest(bundle_dir: Path, signing_key: SigningKey) -> Path:
    """Write ``manifest.json.sig`` for the manifest in ``bundle_dir`` (after checking its files)."""
    bundle_dir = Path(bundle_dir)
    check_files(bundle_dir)
    raw = (bundle_dir / MANIFEST).read_bytes()
    sig = {"key_id": key_id(signing_key.verify_key),
           "signature": base64.b64encode(signing_key.sign(raw).signature).decode()}
    out = bundle_dir / SIGNATURE
    out.write_text(json.dumps(sig) + "\n", encoding="utf-8")
    return out


@dataclass(frozen=True)
class Verified:
    release: int
    models: dict[str, str]  # name -> version
    key_id: str
    manifest_sha256: str


def _manifest(bundle_dir: Path) -> dict:
    try:
        data = json.loads((bundle_dir / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError("the bundle has no manifest.json") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"manifest.json is not valid JSON: {e}") from None
    if not isinstance(data, dict) or data.get("schema") != "classpulse.models" or not isinstance(data.get("models"), dict):
        raise BundleError("manifest.json is not a classpulse.models manifest")
    return data


def _check_file(bundle_dir: Path, name: str, m: dict) -> str:
    """One listed file: a relative path inside the bundle, present, a plain file, with its sha256."""
    if not isinstance(m.get("file"), str) or not isinstance(m.get("sha256"), str):
        raise BundleError(f"model {name!r}: manifest entry needs 'file' and 'sha256'")
    rel = Path(m["file"])
    if rel.is_absolute() or ".." in rel.parts:
        raise BundleError(f"model {name!r}: file path {m['file']!r} leaves the bundle")
    path = bundle_dir / rel
    if not path.is_file() or path.is_symlink():
        raise BundleError(f"model {name!r}: file {m['file']} is missing")
    if hashlib.sha256(path.read_bytes()).hexdigest() != m["sha256"]:
        raise BundleError(f"model {name!r}: file {m['file']} does not match its sha256")
    return rel.as_posix()


def check_files(bundle_dir: Path) -> dict:
    """Every listed file present with its sha256, nothing else in the bundle; returns the manifest."""
    data = _manifest(bundle_dir)
    listed = set()
    for name, m in data["models"].items():
        if not isinstance(m, dict):
            raise BundleError(f"model {name!r}: manifest entry must be an object")
        entries = [m]
        if "selftest" in m:  # bundled test inputs are signed like the model itself
            if not isinstance(m["selftest"], dict):
                raise BundleError(f"model {name!r}: 'selftest' must be an object with 'file' and 'sha256'")
            entries.append(m["selftest"])
        for e in entries:
            listed.add(_check_file(bundle_dir, name, e))
    present = {p.relative_to(bundle_dir).as_posix() for p in bundle_dir.rglob("*") if p.is_file() or p.is_symlink()}
    extra = present - listed - {MANIFEST, SIGNATURE}
    if extra:
        raise BundleError(f"files not in the manifest: {', '.join(sorted(extra))}")
    return data


def verify_bundle(bundle_dir: Path, trusted: dict[str, VerifyKey], newer_than: int | None = None) -> Verified:
    """Signature by a trusted key over the exact manifest bytes, then every file against the manifest.

    ``newer_than``: the installed release; a bundle whose release is not above it is refused (a replayed
    old bundle is still validly signed). Leave it out to verify an installed release (start, rollback).
    """
    bundle_dir = Path(bundle_dir)
    if not trusted:
        raise BundleError("no trusted model-signing keys are configured (models.trusted_keys)")
    raw = (bundle_dir / MANIFEST).read_bytes() if (bundle_dir / MANIFEST).is_file() else b""
    try:
        sig = json.loads((bundle_dir / SIGNATURE).read_text(encoding="utf-8"))
        kid, signature = str(sig["key_id"]), base64.b64decode(sig["signature"])
    except FileNotFoundError:
        raise BundleError("the bundle is not signed (no manifest.json.sig)") from None
    except (ValueError, KeyError, TypeError) as e:
        raise BundleError(f"manifest.json.sig is malformed: {e}") from None
    if kid not in trusted:
        raise BundleError(f"the bundle is signed by key {kid}, which this device does not trust")
    try:
        trusted[kid].verify(raw, signature)
    except BadSignatureError:
        raise BundleError("the manifest's signature does not verify (tampered or wrong key)") from None
    data = check_files(bundle_dir)
    release = data.get("release", 0)
    if not isinstance(release, int) or isinstance(release, bool) or release < 0:
        raise BundleError("manifest 'release' must be a non-negative integer")
    if newer_than is not None and release <= newer_than:
        raise BundleError(f"release {release} is not newer than the installed release {newer_than} "
                          "(use rollback to go back)")
    return Verified(release=release, models={n: str(m.get("version", "")) for n, m in data["models"].items()},
                    key_id=kid, manifest_sha256=hashlib.sha256(raw).hexdigest())


# --- archives -------------------------------------------------------------------------------------------

def pack(bundle_dir: Path, out: Path) -> Path:
    """A ``.tar.gz`` of a signed bundle directory (files only, relative names, no owners)."""
    bundle_dir = Path(bundle_dir)
    with tarfile.open(out, "w:gz") as tar:
        for p in sorted(bundle_dir.rglob("*")):
            if p.is_file():
                info = tar.gettarinfo(str(p), arcname=p.relative_to(bundle_dir).as_posix())
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                with p.open("rb") as f:
                    tar.addfile(info, f)
    return out


def unpack(archive: Path, dest: Path) -> Path:
    """Extract only plain files with safe relative names, within the size caps."""
    if Path(archive).stat().st_size > MAX_ARCHIVE_BYTES:
        raise BundleError(f"the bundle archive is larger than {MAX_ARCHIVE_BYTES // 2**20} MiB")
    dest.mkdir(parents=True, exist_ok=True)
    total = n = 0
    try:
        # stream mode, one header at a time: each entry's declared size is checked before any of its data is
        # inflated (getmembers() would inflate every entry to find the next header — a 1 MiB archive declaring
        # 1 GiB cost seconds of CPU before it was refused)
        with tarfile.open(archive, "r|*") as tar:
            for m in tar:
                n += 1
                if n > MAX_MEMBERS:
                    raise BundleError(f"the bundle archive has more than {MAX_MEMBERS} entries")
                rel = Path(m.name)
                if m.isdir():
                    continue
                if not m.isfile() or rel.is_absolute() or ".." in rel.parts or not m.name:
                    raise BundleError(f"archive entry {m.name!r} is not a plain file inside the bundle")
                total += m.size
                if total > UNPACKED_CAP:
                    raise BundleError(f"archive entry {m.name!r} declares {m.size} bytes: the bundle would unpack "
                                      f"to more than {UNPACKED_CAP // 2**20} MiB")
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(m)
                if src is None:
                    raise BundleError(f"archive entry {m.name!r} cannot be read")
                with src, target.open("wb") as f:
                    shutil.copyfileobj(src, f)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise BundleError(f"the bundle archive cannot be read: {e}") from None
    return dest


# --- installing on the device ---------------------------------------------------------------------------

class ModelStore:
    """The device's model releases under ``root`` with atomic ``current``/``previous`` links."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.releases = self.root / "releases"

    def _link(self, name: str) -> Path | None:
        p = self.root / name
        return p.resolve() if p.is_symlink() and p.resolve().is_dir() else None

    @property
    def current(self) -> Path | None:
        return self._link("current")

    @property
    def previous(self) -> Path | None:
        return self._link("previous")

    def current_manifest(self) -> Path | None:
        cur = self.current
        return cur / MANIFEST if cur is not None else None

    def installed_release(self) -> int:
        cur = self.current
        if cur is None:
            return -1
        try:
            return int(_manifest(cur).get("release", 0))
        except (BundleError, ValueError):
            return -1

    def _point(self, name: str, target: Path) -> None:
        tmp = self.root / f".{name}.tmp"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        tmp.symlink_to(target.relative_to(self.root))
        os.replace(tmp, self.root / name)  # atomic on POSIX
        fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def stage(self, bundle_dir: Path, trusted: dict[str, VerifyKey]) -> tuple[Path, Verified]:
        """Verify ``bundle_dir`` and copy it into ``releases/`` (not yet active)."""
        v = verify_bundle(bundle_dir, trusted, newer_than=self.installed_release())
        self.releases.mkdir(parents=True, exist_ok=True)
        target = self.releases / f"{v.release}-{v.manifest_sha256[:8]}"
        if target.exists():
            shutil.rmtree(target)
        tmp = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.releases))
        shutil.copytree(bundle_dir, tmp, dirs_exist_ok=True)
        os.replace(tmp, target)
        verify_bundle(target, trusted)  # what was copied is what was verified
        return target, v

    def activate(self, release_dir: Path) -> None:
        """Make ``release_dir`` current (the old one previous) and put it on probation until confirmed."""
        cur = self.current
        if cur is not None and cur != release_dir.resolve():
            self._point("previous", cur)
        self._point("current", release_dir)
        self._write_probation({"release": release_dir.name, "starts": 0})

    # A release that passed its self-test can still fail later (a crash minutes in); systemd restarts the
    # agent, and without this it would load the same release forever. ``probation.json`` counts starts
    # until the agent has run ``models.probation_s`` with it and calls ``confirm``.
    @property
    def _probation(self) -> Path:
        return self.root / "probation.json"

    def _write_probation(self, data: dict) -> None:
        tmp = self.root / ".probation.tmp"
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, self._probation)

    def on_probation(self) -> str | None:
        """The current release's name while it is unconfirmed, else None."""
        try:
            data = json.loads(self._probation.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        cur = self.current
        return data.get("release") if cur is not None and data.get("release") == cur.name else None

    def confirm(self) -> str | None:
        """The current release ran long enough: end its probation (returns its name, None if there was none)."""
        name = self.on_probation()
        self._probation.unlink(missing_ok=True)
        return name

    def count_start(self, max_starts: int) -> str | None:
        """Called at each agent start: after ``max_starts`` unconfirmed starts, undo the release and say why."""
        name = self.on_probation()
        if name is None:
            return None
        starts = int(json.loads(self._probation.read_text(encoding="utf-8")).get("starts", 0)) + 1
        if starts <= max_starts:
            self._write_probation({"release": name, "starts": starts})
            return None
        failed = self.current
        self._probation.unlink(missing_ok=True)
        prev = self.previous
        if failed is not None:
            self.restore(prev, None, failed=failed)
        return (f"release {name} never ran {max_starts} starts long enough to be confirmed; "
                f"back to {prev.name if prev else 'the models installed with the agent'}")

    def rollback(self) -> Path:
        """Make ``previous`` current again (and the failed one previous); returns the active release."""
        prev, cur = self.previous, self.current
        if prev is None:
            raise BundleError("there is no previous model release to roll back to")
        self._point("current", prev)
        if cur is not None:
            self._point("previous", cur)
        return prev

    def restore(self, current: Path | None, previous: Path | None, failed: Path | None = None) -> None:
        """Set both links (None unlinks) and delete ``failed``: after a failed activation nothing points
        at the failed release, so a later ``rollback`` never returns to it. A release refused at start is
        unlinked but kept on disk (``failed=None``) for whoever investigates; ``prune`` removes it later."""
        for name, target in (("current", current), ("previous", previous)):
            if target is not None and target.is_dir():
                self._point(name, target)
            elif (self.root / name).is_symlink():
                (self.root / name).unlink()
        if failed is not None:
            shutil.rmtree(failed, ignore_errors=True)

    def prune(self) -> list[str]:
        """Delete releases that are neither ``current`` nor ``previous`` (a box keeps two); returns their names."""
        keep = {p for p in (self.current, self.previous) if p is not None}
        gone = []
        for d in sorted(self.releases.iterdir()) if self.releases.is_dir() else []:
            if d.is_dir() and not d.name.startswith(".") and d.resolve() not in keep:
                shutil.rmtree(d, ignore_errors=True)
                gone.append(d.name)
        return gone
