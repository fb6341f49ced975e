#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite against real Mosquitto, PostgreSQL and Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --with-test-tools
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 TF_NUM_INTRAOP_THREADS=1
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
