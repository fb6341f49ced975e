"""What ``cloud-aggregator config check`` and ``run`` know about a config before serving.

Pydantic checks the shape (``cloud_aggregator.config``); this checks the config against the server:
files it names can be read, the SQLite folder can be written, the dashboard port is free. What
``run`` would otherwise fail on later is reported at once, each line with its key path.
"""

from __future__ import annotations

import socket
from pathlib import Path

from classpulse_contract.config_io import file_problems, load_config
from cloud_aggregator.config import ENV_PREFIX, AggregatorConfig

#: Files the aggregator reads (dotted key paths).
INPUT_FILES = ("mqtt.password_file", "mqtt.tls.ca_file", "mqtt.tls.cert_file", "mqtt.tls.key_file",
               "records.key_file", "enrolment.ca_file", "enrolment.client_ca_cert",
               "enrolment.client_ca_key", "warnings.delivery.email.password_file",
               "warnings.delivery.webhook.secret_file")


def problems(cfg: AggregatorConfig) -> list[str]:
    """Every reason ``run`` would stop on this server, as ``key.path: words`` lines."""
    outputs = ("store.path", "enrolment.password_file") if cfg.store.backend == "sqlite" else \
        ("enrolment.password_file",)
    out = file_problems(cfg, INPUT_FILES, outputs)
    e = cfg.enrolment
    if e.client_ca_files is not None and not any(p.startswith("enrolment.client_ca") for p in out):
        from cloud_aggregator.device_certs import ClientCA
        try:
            ClientCA(*e.client_ca_files, e.client_cert_days)
        except ValueError as err:
            out.append(f"enrolment.client_ca_key: {err}")
    return out


def notes(cfg: AggregatorConfig) -> list[str]:
    """Legal but possibly unintended settings, and what only the running service can settle."""
    out = []
    with socket.socket() as s:
        try:
            s.bind((cfg.web.host, cfg.web.port))
        except OSError as e:
            out.append(f"web.port: {cfg.web.host}:{cfg.web.port} cannot be bound now ({e.strerror or e}); "
                       "run will fail unless that is this aggregator, already running")
    if cfg.mqtt.tls is None and cfg.mqtt.port == 8883:
        out.append("mqtt.port 8883 is the usual TLS port but mqtt.tls is not set")
    return out


def load_checked(path: str | Path | None) -> AggregatorConfig:
    """Load and validate ``path`` against this server; :class:`ConfigError` lists every problem."""
    return load_config(AggregatorConfig, path, ENV_PREFIX, check=problems)
