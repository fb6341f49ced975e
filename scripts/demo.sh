#!/usr/bin/env bash
# Set up (if needed) and run the whole system on the bundled sample media:
# broker (system Mosquitto if one answers, else one started here) → aggregator → dashboard URL.
# `--help` only prints the options: it never installs anything.
set -euo pipefail
cd "$(dirname "$0")/.."
for a in "$@"; do
  if [ "$a" = "-h" ] || [ "$a" = "--help" ]; then
    if [ -x .venv/bin/cloud-aggregator ]; then exec .venv/bin/cloud-aggregator demo --help; fi
    cat <<'USAGE'
usage: bash scripts/demo.sh [--data DIR] [--port PORT] [--agents N] [--duration SECONDS]

Runs broker, aggregator, dashboard and N simulated classroom agents on the sample media,
prints the dashboard URL and the demo logins; Ctrl-C stops everything. The first start
installs what is missing (Debian packages, then .venv); this help installed nothing.
USAGE
    exit 0
  fi
done
scripts/setup.sh
exec .venv/bin/cloud-aggregator demo "$@"
