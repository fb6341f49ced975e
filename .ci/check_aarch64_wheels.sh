#!/usr/bin/env bash
# Prove that the locked edge set installs from binary wheels on the real boxes:
#   Raspberry Pi OS bookworm 64-bit: aarch64, glibc 2.36, Python 3.11  (requirements-edge-aarch64.lock)
#   JetPack 6:                      aarch64, glibc 2.35, Python 3.10  (requirements-edge-jetson.lock)
# PyAudio has no wheels: on the boxes it comes from Debian/Ubuntu's python3-pyaudio (or is built
# against portaudio19-dev); it is excluded here and checked by name in the lock instead.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP=${PIP:-.venv/bin/python -m pip}
check() {  # lock, python version, abi, glibc minor
  local lock=$1 pyver=$2 abi=$3 glibc=$4 dir
  dir=$(mktemp -d)
  grep -q '^pyaudio==' "$lock" || { echo "pyaudio missing from $lock" >&2; exit 1; }
  grep -vE '^(pyaudio)==' "$lock" | grep -E '^[a-z0-9]' | sed 's/ .*//' > "$dir/req.txt"
  local plats=()
  for m in $(seq "$glibc" -1 17); do plats+=(--platform "manylinux_2_${m}_aarch64"); done
  plats+=(--platform manylinux2014_aarch64 --platform linux_aarch64)
  $PIP download -q --no-deps --only-binary=:all: --python-version "$pyver" --implementation cp --abi "$abi" \
    --abi abi3 --abi none "${plats[@]}" -d "$dir/wheels" -r "$dir/req.txt" </dev/null
  echo "$lock: $(ls "$dir/wheels" | wc -l) binary wheels for aarch64 glibc 2.$glibc Python $pyver"
  rm -rf "$dir"
}
check requirements-edge-aarch64.lock 3.11 cp311 36
check requirements-edge-jetson.lock 3.10 cp310 35
