#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite against real Mosquitto, PostgreSQL, RabbitMQ and Chromium.
# This is what CI runs (.ci/run adds the Debian packages and audits before it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --with-test-tools
bash scripts/rabbitmq_mqtt.sh  # broker portability test; says why when it will skip
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 TF_NUM_INTRAOP_THREADS=1
# Most tests wait on real processes (brokers, agents, aggregators), so three workers on two cores
# keep both cores busy; CLASSPULSE_TEST_WORKERS=0 runs in one process (pytest's own -n also wins).
workers=${CLASSPULSE_TEST_WORKERS:-3}
dist=()
if [ "$workers" != 0 ] && ! printf '%s\n' "$@" | grep -qE '^(-n|--numprocesses)'; then
  dist=(-n "$workers" --dist worksteal)
fi
exec .venv/bin/python -m pytest -p no:cacheprovider "${dist[@]}" "$@"
