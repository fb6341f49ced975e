#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite against real Mosquitto, PostgreSQL, RabbitMQ and Chromium.
# This is what CI runs (.ci/run adds the Debian packages and audits before it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --with-test-tools
bash scripts/rabbitmq_mqtt.sh  # broker portability test; says why when it will skip
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 TF_NUM_INTRAOP_THREADS=1
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
