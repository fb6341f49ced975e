#!/usr/bin/env bash
# Build the classroom box's one package: scripts/build-deb.sh {arm64|amd64} OUTDIR
#   → OUTDIR/classpulse-agent_<version>_<arch>.deb
# It carries the agent's source, the shipped models, the hardened units and every Python wheel the
# locked edge set needs, so a box installs with no package index at all: postinst makes the venv in
# /opt/classpulse/.venv from the bundled wheels (pip --no-index). Both architectures take the pins of
# requirements-edge-aarch64.lock (there is no separate amd64 edge lock; every pin has an x86_64 wheel);
# PyAudio is Debian's python3-pyaudio (no aarch64 wheel exists), seen through --system-site-packages.
# CLASSPULSE_DEB_VERSION overrides the version (tests build N and N+1 of the same tree).
set -euo pipefail
cd "$(dirname "$0")/.."
USAGE="usage: build-deb.sh arm64|amd64 OUTDIR"
ARCH=${1:?$USAGE}
OUT=${2:?$USAGE}
PY=${PY:-.venv/bin/python}
case "$ARCH" in
  arm64) MACHINE=aarch64 ;;
  amd64) MACHINE=x86_64 ;;
  *) echo "build-deb: arch must be arm64 or amd64, not $ARCH" >&2; exit 2 ;;
esac
VERSION=${CLASSPULSE_DEB_VERSION:-$($PY -c 'import tomllib;print(tomllib.load(open("pyproject.toml","rb"))["project"]["version"])')}
LOCK=requirements-edge-aarch64.lock
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
ROOT=$STAGE/root
APP=$ROOT/opt/classpulse
mkdir -p "$APP/wheels" "$ROOT/DEBIAN" "$ROOT/etc/classpulse" "$ROOT/lib/systemd/system" \
  "$ROOT/usr/share/doc/classpulse-agent" "$ROOT/usr/share/classpulse-agent" "$ROOT/usr/share/lintian/overrides"

# --- wheels: the lock's pins (less PyAudio) for cp311 on glibc ≤ 2.36 (Debian 12 / Raspberry Pi OS 12)
grep -q '^pyaudio==' "$LOCK" || { echo "build-deb: pyaudio missing from $LOCK" >&2; exit 1; }
grep -vE '^(pyaudio|pip)==' "$LOCK" | grep -E '^[a-z0-9]' | sed 's/ .*//' > "$APP/requirements.txt"
grep -E '^[a-z0-9]' requirements-nodeps.txt | sed 's/ .*//' > "$APP/requirements-nodeps.txt"
plats=()
for m in $(seq 36 -1 17); do plats+=(--platform "manylinux_2_${m}_${MACHINE}"); done
plats+=(--platform "manylinux2014_${MACHINE}" --platform "linux_${MACHINE}")
for req in requirements.txt requirements-nodeps.txt; do
  $PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 \
    --abi abi3 --abi none "${plats[@]}" -d "$APP/wheels" -r "$APP/$req" </dev/null 2> >(grep -v "is ignored: it is neither" >&2)
done

# --- the agent itself, laid out as in the repository so models/manifest.json is found beside it
for pkg in edge_agent classpulse_contract calibration; do
  (cd . && find "$pkg" -name '*.py' -o -name '*.json' -o -name '*.yaml' | grep -v __pycache__) |
    while read -r f; do install -D -m 0644 "$f" "$APP/$f"; done
done
$PY - "$APP" <<'EOF'
import json, shutil, sys
from pathlib import Path
app = Path(sys.argv[1])
man = json.loads(Path("models/manifest.json").read_text())
(app / "models").mkdir(parents=True, exist_ok=True)
shutil.copy("models/manifest.json", app / "models" / "manifest.json")
for m in man["models"].values():  # exactly the files the manifest lists (and their cards)
    for f in [m["file"], *([m["selftest"]["file"]] if m.get("selftest") else [])]:
        (app / "models" / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path("models") / f, app / "models" / f)
    card = Path("models") / Path(m["file"]).parent / "MODEL_CARD.md"
    if card.exists():
        shutil.copy(card, app / "models" / Path(m["file"]).parent / "MODEL_CARD.md")
EOF
sha256sum "$APP/requirements.txt" "$APP/requirements-nodeps.txt" | sed "s#  $APP/#  #" > "$APP/wheels.sha256"
(cd "$APP/wheels" && sha256sum *.whl) >> "$APP/wheels.sha256"

# --- system files: units, default config (conffile), first-boot helper, docs
install -m 0644 systemd/classpulse-agent.service "$ROOT/lib/systemd/system/"
install -m 0644 systemd/classpulse-firstboot.service "$ROOT/lib/systemd/system/"
install -m 0755 scripts/deb/classpulse-firstboot "$ROOT/usr/share/classpulse-agent/classpulse-firstboot.sh"
cat > "$ROOT/usr/share/lintian/overrides/classpulse-agent" <<'EOF'
# A site-local add-on application, not a Debian archive package: FHS puts those in /opt, and the
# agent finds its models beside its source (/opt/classpulse/models), as in the repository.
classpulse-agent: dir-or-file-in-opt *
EOF
install -m 0644 scripts/deb/agent.yaml "$ROOT/etc/classpulse/agent.yaml"
gzip -9n -c docs/provisioning.md > "$ROOT/usr/share/doc/classpulse-agent/provisioning.md.gz"
cat > "$ROOT/usr/share/doc/classpulse-agent/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: classpulse
Source: https://github.com/classpulse/classpulse

Files: *
Copyright: 2026 ClassPulse contributors
License: Apache-2.0
 On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.
 The bundled wheels under /opt/classpulse/wheels carry their own licences in their metadata.
EOF
printf 'classpulse-agent (%s) stable; urgency=medium\n\n  * Built from the repository by scripts/build-deb.sh.\n\n -- ClassPulse contributors <classpulse@example.org>  %s\n' \
  "$VERSION" "$(date -R -d @"${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")" |
  gzip -9n > "$ROOT/usr/share/doc/classpulse-agent/changelog.gz"

# --- control + maintainer scripts
echo /etc/classpulse/agent.yaml > "$ROOT/DEBIAN/conffiles"
for s in postinst prerm postrm; do install -m 0755 "scripts/deb/$s" "$ROOT/DEBIAN/$s"; done
SIZE=$(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)
cat > "$ROOT/DEBIAN/control" <<EOF
Package: classpulse-agent
Version: $VERSION
Architecture: $ARCH
Maintainer: ClassPulse contributors <classpulse@example.org>
Installed-Size: $SIZE
Depends: python3 (>= 3.11), python3 (<< 3.12), python3-venv, python3-pyaudio, libgl1, libglib2.0-0, libgomp1, systemd
Section: misc
Priority: optional
Homepage: https://github.com/classpulse/classpulse
Description: ClassPulse classroom edge agent (anonymous engagement aggregates)
 Camera and microphone analysis on the box itself; only anonymous class-level
 aggregates leave it, over MQTT. Carries every Python wheel it needs, so it
 installs without a package index, and a first-boot unit that enrols the box
 from a file on the boot partition.
EOF
DEB="$OUT/classpulse-agent_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Zgzip -z6 --build "$ROOT" "$DEB" >/dev/null
echo "$DEB"
