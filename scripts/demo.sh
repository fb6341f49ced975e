#!/usr/bin/env bash
# Set up (if needed) and run the whole system on the bundled sample media:
# broker (system Mosquitto if one answers, else one started here) → aggregator → dashboard URL.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/cloud-aggregator demo "$@"
