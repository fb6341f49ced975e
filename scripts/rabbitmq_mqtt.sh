#!/usr/bin/env bash
# Enable RabbitMQ's MQTT plugin on 127.0.0.1:1884 (Mosquitto owns 1883) for the broker-portability test.
# Idempotent; does nothing without a running RabbitMQ or root. Never fails the caller: without the plugin
# tests/test_ingest_rabbitmq.py skips and says why.
set -uo pipefail
skip() { echo "rabbitmq: $1; tests/test_ingest_rabbitmq.py will skip (the rest of the suite runs)" >&2; exit 0; }
if (exec 3<>/dev/tcp/127.0.0.1/1884) 2>/dev/null; then echo "rabbitmq: MQTT plugin on 127.0.0.1:1884" >&2; exit 0; fi
command -v rabbitmqctl >/dev/null || skip "not installed"
[ "$(id -u)" = 0 ] || skip "its MQTT plugin is off and enabling it needs root (sudo bash scripts/rabbitmq_mqtt.sh)"
conf=/etc/rabbitmq/rabbitmq.conf
# the listener must be in the config too, or a restarted node would try 1883 and fail to start the plugin
if [ -d /etc/rabbitmq ] && ! grep -q '^mqtt.listeners.tcp' "$conf" 2>/dev/null; then
  echo 'mqtt.listeners.tcp.1 = 127.0.0.1:1884' >> "$conf"
fi
timeout 20 rabbitmqctl -q status >/dev/null 2>&1 || skip "installed but not running"
if ! (exec 3<>/dev/tcp/127.0.0.1/1884) 2>/dev/null; then
  # a running node read its config before this line existed: set the listener, then start the plugin
  timeout 30 rabbitmqctl -q eval \
    'application:load(rabbitmq_mqtt), application:set_env(rabbitmq_mqtt, tcp_listeners, [{"127.0.0.1", 1884}]).' \
    >/dev/null 2>&1
  timeout 60 rabbitmq-plugins -q enable rabbitmq_mqtt >/dev/null 2>&1
fi
(exec 3<>/dev/tcp/127.0.0.1/1884) 2>/dev/null && echo "rabbitmq: MQTT plugin on 127.0.0.1:1884" >&2 || \
  skip "the MQTT plugin did not start"
exit 0
