"""PostgreSQL backend (psycopg 3) for a district: several aggregator processes may share one database.

The same SQL as SQLite; the ``(device, msg_id)`` primary key makes concurrent writers from a shared
MQTT subscription safe without coordination.
"""

from __future__ import annotations

from cloud_aggregator.records.db import RecordsDB

from .base import Store


class PostgresStore(Store):
    backend = "postgres"


def open_postgres(dsn: str) -> PostgresStore:
    import psycopg

    conn = psycopg.connect(dsn, connect_timeout=10, application_name="classpulse-aggregator")
    return PostgresStore(RecordsDB(conn, "postgres", owns=True))
