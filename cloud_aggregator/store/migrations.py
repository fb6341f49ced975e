"""Numbered schema migrations for the aggregator's own tables, applied in order when a store opens.

Each migration runs once per database and is recorded in ``schema_migrations``. Two aggregator
processes opening the same database at once serialise on a lock (PostgreSQL advisory lock,
SQLite ``BEGIN IMMEDIATE``), so a migration never runs twice. Never edit a released migration:
add the next number. The academic-records tables are created by ``engine.RecordsDB.ensure_schema``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from cloud_aggregator.store.warning_tables import RISK_TABLES, WARNING_TABLES

from .engine import RecordsDB
from .records_tables import Table

AGGREGATES = Table(
    "aggregates",
    (("device", "TEXT"), ("msg_id", "INTEGER"), ("site", "TEXT"), ("room", "TEXT"),
     ("window_start", "TEXT"), ("window_end", "TEXT"), ("policy", "TEXT"), ("n_faces", "INTEGER"),
     ("attention_share", "REAL"), ("speech_share", "REAL"), ("hand_raises", "INTEGER"),
     ("engagement", "REAL"), ("payload", "TEXT"), ("received_at", "TEXT"), ("stored_at", "TEXT")),
    ("device", "msg_id"), (("room", "window_start"), ("window_start",)),
)
DEAD_LETTERS_V1 = Table(
    "dead_letters",
    (("id", "TEXT"), ("received_at", "TEXT"), ("topic", "TEXT"), ("reason", "TEXT"),
     ("size", "INTEGER"), ("sha256", "TEXT"), ("preview", "TEXT")),
    ("id",), (("received_at",),),
)
DEVICES = Table(
    "devices",
    (("device", "TEXT"), ("site", "TEXT"), ("room", "TEXT"), ("state", "TEXT"), ("state_at", "TEXT"),
     ("last_seen", "TEXT"), ("health", "TEXT"), ("health_at", "TEXT")),
    ("device",),
)
SITES = Table("sites", (("site", "TEXT"), ("name", "TEXT"), ("timezone", "TEXT")), ("site",))
ROOMS = Table("rooms", (("site", "TEXT"), ("room", "TEXT"), ("name", "TEXT"), ("kind", "TEXT")), ("site", "room"))
HEALTH_LOG = Table("device_health", (("device", "TEXT"), ("ts", "TEXT"), ("payload", "TEXT")), ("device", "ts"),
                   (("ts",),))
ENROL_TOKENS = Table(
    "enrol_tokens",
    (("token_sha256", "TEXT"), ("site", "TEXT"), ("room", "TEXT"), ("device", "TEXT"), ("issued_at", "TEXT"),
     ("expires_at", "TEXT"), ("redeemed_at", "TEXT")),
    ("token_sha256",), (("device",),),
)
SESSION_SUMMARIES = Table(
    "session_summaries",
    (("session_id", "TEXT"), ("section_id", "TEXT"), ("site", "TEXT"), ("room", "TEXT"), ("date", "TEXT"),
     ("period", "TEXT"), ("start_utc", "TEXT"), ("end_utc", "TEXT"), ("n_windows", "INTEGER"),
     ("attention_mean", "REAL"), ("engagement_mean", "REAL"), ("speech_mean", "REAL"), ("hand_raises", "INTEGER"),
     ("n_faces_mean", "REAL"), ("updated_at", "TEXT")),
    ("session_id",), (("section_id", "date"), ("room", "start_utc")),
)
WEEK_SUMMARIES = Table(
    "week_summaries",
    (("site", "TEXT"), ("room", "TEXT"), ("section_id", "TEXT"), ("week", "TEXT"), ("n_windows", "INTEGER"),
     ("n_sessions", "INTEGER"), ("attention_mean", "REAL"), ("engagement_mean", "REAL"), ("speech_mean", "REAL"),
     ("hand_raises", "INTEGER"), ("updated_at", "TEXT")),
    ("site", "room", "section_id", "week"), (("week",),),
)
#: Every table this module creates, as it stands after the last migration (for docs and tests).
STORE_TABLES = ("aggregates", "dead_letters", "devices", "sites", "rooms", "device_health", "enrol_tokens",
                "session_summaries", "week_summaries", *(t.name for t in WARNING_TABLES),
                *(t.name for t in RISK_TABLES))


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[RecordsDB], None]


def _create(*tables: Table) -> Callable[[RecordsDB], None]:
    def run(db: RecordsDB) -> None:
        for t in tables:
            for stmt in db.ddl(t):
                db.execute(stmt)
    return run


def _columns(table: str, cols: list[tuple[str, str]]) -> Callable[[RecordsDB], None]:
    """Add columns unless present (databases created by the pre-migration foundation may differ)."""
    pg = {"TEXT": "TEXT", "INTEGER": "BIGINT", "REAL": "DOUBLE PRECISION"}

    def run(db: RecordsDB) -> None:
        have = {r["name"] for r in db.query(f"PRAGMA table_info({table})")} if db.dialect == "sqlite" else {
            r["column_name"] for r in db.query(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?", (table,))}
        for name, typ in cols:
            if name not in have:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {pg[typ] if db.dialect == 'postgres' else typ}")
    return run


def _seq(*steps: Callable[[RecordsDB], object]) -> Callable[[RecordsDB], None]:
    def run(db: RecordsDB) -> None:
        for s in steps:
            s(db)
    return run


def _one_row_per_window(db: RecordsDB) -> None:
    """Keep the first stored message of each (device, window_start); the others become dead letters with the
    reason (nothing is dropped silently), then a unique index makes a second row impossible."""
    from cloud_aggregator.store import deadletters

    extra = db.query(
        "SELECT a.device, a.msg_id, a.site, a.room, a.window_start, a.payload, a.received_at FROM aggregates a "
        "WHERE EXISTS (SELECT 1 FROM aggregates b WHERE b.device = a.device AND b.window_start = a.window_start "
        "AND (b.stored_at < a.stored_at OR (b.stored_at = a.stored_at AND b.msg_id < a.msg_id)))")
    for r in extra:
        why = (f"window {r['window_start']} of device {r['device']} was stored twice; msg_id {r['msg_id']} "
               "removed by migration 6 (one row per device and window)")
        db.execute(deadletters.UPSERT_SQL, deadletters.row(
            f"classpulse/v1/{r['site']}/{r['room']}/{r['device']}/agg", (r["payload"] or "").encode(), why,
            r["received_at"] or datetime.now(timezone.utc).isoformat()))
        db.execute("DELETE FROM aggregates WHERE device = ? AND msg_id = ?", (r["device"], r["msg_id"]))
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS ux_aggregates_device_window ON aggregates (device, window_start)")


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "aggregates, dead letters, devices", _create(AGGREGATES, DEAD_LETTERS_V1, DEVICES)),
    Migration(2, "sites, rooms, health history, enrolment tokens; sessions on aggregates; dead-letter repeats",
              _seq(_create(SITES, ROOMS, HEALTH_LOG, ENROL_TOKENS),
                   _columns("aggregates", [("section_id", "TEXT"), ("session_id", "TEXT")]),
                   _columns("dead_letters", [("count", "INTEGER"), ("last_seen", "TEXT")]),
                   lambda db: db.execute("CREATE INDEX IF NOT EXISTS ix_aggregates_session_id ON aggregates (session_id)"))),
    Migration(3, "session and week summaries (retention rollups)", _create(SESSION_SUMMARIES, WEEK_SUMMARIES)),
    Migration(4, "warnings engine: runs, warning log, delivery outbox, escalations", _create(*WARNING_TABLES)),
    Migration(5, "risk model versions, drift checks, intervention effects", _create(*RISK_TABLES)),
    Migration(6, "one row per device and window (unique device + window_start)", _one_row_per_window),
)
LATEST = MIGRATIONS[-1].version


def applied_versions(db: RecordsDB) -> list[int]:
    if not db.table_exists("schema_migrations"):
        return []
    return [int(r["version"]) for r in db.query("SELECT version FROM schema_migrations ORDER BY version")]


def migrate(db: RecordsDB) -> list[int]:
    """Apply pending migrations in one locked transaction each; returns the versions applied now."""
    done: list[int] = []
    if db.dialect == "postgres":
        db.execute("SELECT pg_advisory_xact_lock(4242001)")  # held until commit: other processes wait here
    else:
        db.commit()
        db.conn.execute("BEGIN IMMEDIATE")  # takes the write lock before reading the version list
    try:
        db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT, "
                   "applied_at TEXT)")
        have = set(applied_versions(db))
        for m in MIGRATIONS:
            if m.version in have:
                continue
            m.apply(db)
            db.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                       (m.version, m.name, datetime.now(timezone.utc).isoformat()))
            done.append(m.version)
        db.commit()
    except BaseException:
        db.rollback()
        raise
    return done
