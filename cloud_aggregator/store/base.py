"""The aggregator's one narrow storage interface, shared by the SQLite and PostgreSQL backends.

All SQL here is dialect-neutral (``?`` placeholders, ``ON CONFLICT``, ``RETURNING``) and runs through
the engine's ``RecordsDB`` (``engine.py``), so records tables, aggregates and dead letters live in one
database. Each ``(device, msg_id)`` is stored once (primary key + ``ON CONFLICT DO NOTHING``), which
turns MQTT's at-least-once delivery into exactly-once in the store. One connection per process,
serialised by ``lock`` (the ingest writer and the web threads share it).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from classpulse_contract import Aggregate, Health, Status, dumps, topic

from . import deadletters, windows
from .engine import RecordsDB
from .migrations import AGGREGATES, migrate
from .records_tables import ALL_TABLES, TIMETABLE_SLOTS

if TYPE_CHECKING:
    pass

PREVIEW_BYTES = deadletters.PREVIEW_BYTES
#: Rows per multi-row INSERT (17 columns x 500 stays far below both engines' parameter limits).
INSERT_CHUNK = 500
AGG_COLUMNS = (*AGGREGATES.column_names, "section_id", "session_id")


def iso(dt: datetime) -> str:
    """UTC instant as fixed-width text (sorts like time on both engines); isoformat is much faster than strftime.

    Ingest calls this three times per message: a UTC datetime (every validated window) skips the conversion and
    drops isoformat's fixed ``+00:00`` instead of copying the datetime naive (≈ 1 µs of ≈ 3 saved each)."""
    if dt.tzinfo is not timezone.utc:
        dt = dt.astimezone(timezone.utc)
    return dt.isoformat(timespec="microseconds")[:-6] + "Z"


def iso_ts(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="microseconds")[:-6] + "Z"


def now_iso() -> str:
    return iso(datetime.now(timezone.utc))


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    payload: bytes
    reason: str
    received_at: str = field(default_factory=now_iso)


@dataclass(frozen=True)
class Enrolment:
    device: str
    site: str
    room: str
    issued_at: str
    expires_at: str
    redeemed_at: str


class TokenError(ValueError):
    """An enrolment token that is unknown, expired or already used (deliberately not told apart)."""


class Store:
    """Use ``open_store(cfg)``; ``Store(db)`` wraps an open ``RecordsDB`` and migrates it."""

    backend = "sql"

    def __init__(self, db: RecordsDB):
        self.db = db
        self.lock = threading.RLock()
        #: messages refused because their window (or msg_id) was stored under another message
        self.window_conflicts = 0
        with self.lock:
            pg = self.db.dialect == "postgres"
            if pg:  # processes starting together on a fresh database would race on CREATE TABLE (pg_type)
                self.db.execute("SELECT pg_advisory_lock(4242001)")
            try:
                self.db.ensure_schema(ALL_TABLES)
                self.migrated_now = migrate(self.db)
            finally:
                if pg:
                    self.db.execute("SELECT pg_advisory_unlock(4242001)")
                    self.db.commit()


    def close(self) -> None:
        with self.lock:
            self.db.close()

    def commit(self) -> None:
        with self.lock:
            self.db.commit()

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.lock:
            rows = self.db.query(sql, params)
            if self.db.dialect == "postgres":
                self.db.commit()  # do not leave the shared connection idle in a transaction
            return rows

    # ------------------------------------------------------------------ ingest (writes)
    def _insert_aggs(self, aggs: Sequence[tuple[Aggregate, str]], sessions: Sequence[tuple[str | None, str | None]]
                     | None, raw: Sequence[bytes | None] | None = None) -> list[Aggregate]:
        """Insert new windows; a second message for a stored (device, window_start) or (device, msg_id) that
        is not the same message is dead-lettered with its reason, so one window is never two rows."""
        stored_at = now_iso()
        by_key: dict[tuple[str, int], Aggregate] = {}
        seen: set[tuple[str, str]] = set()
        rows, later = [], []  # later: (agg, window, received, body) to check against what is stored now
        for i, (a, received) in enumerate(aggs):
            ws = iso(a.window_start)
            given = raw[i] if raw else None
            body = (given if given is not None else dumps(a)).decode()
            if (a.device, a.msg_id) in by_key or (a.device, ws) in seen:
                later.append((a, ws, received, body))  # a twin inside this batch: judged after the insert
                continue
            by_key[(a.device, a.msg_id)] = a
            seen.add((a.device, ws))
            sec, ses = sessions[i] if sessions else (None, None)
            rows.append((a.device, a.msg_id, a.site, a.room, ws, iso(a.window_end), a.policy,
                         a.n_faces, a.attention_share, a.speech_share, a.hand_raises, a.engagement,
                         body, received, stored_at, sec, ses))
        new_keys = self._insert_rows(rows)
        later += [(by_key[(r[0], r[1])], r[4], r[13], r[12]) for r in rows if (r[0], r[1]) not in new_keys]
        for (a, ws, received, body), other in windows.clashes(self.db, later, INSERT_CHUNK // 2):
            self._dead_letter(DeadLetter(topic(a.site, a.room, a.device, "agg"), body.encode(),
                                         windows.reason(a, ws, other), received or now_iso()))
            self.window_conflicts += 1
        return [a for k, a in by_key.items() if k in new_keys]

    def _insert_rows(self, rows: list[tuple[Any, ...]]) -> set[tuple[str, int]]:
        """Insert AGG_COLUMNS rows, skipping rows whose (device, msg_id) or (device, window_start) exists;
        returns the keys that were new."""
        new_keys: set[tuple[str, int]] = set()
        one = "(" + ", ".join("?" for _ in AGG_COLUMNS) + ")"
        for i in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[i:i + INSERT_CHUNK]
            sql = (f"INSERT INTO aggregates ({', '.join(AGG_COLUMNS)}) VALUES {', '.join(one for _ in chunk)} "  # noqa: S608
                   "ON CONFLICT DO NOTHING RETURNING device, msg_id")
            for r in self.db.query(sql, [v for row in chunk for v in row]):
                new_keys.add((r["device"], int(r["msg_id"])))
        return new_keys

    def _dead_letter(self, d: DeadLetter) -> None:
        self.db.execute(deadletters.UPSERT_SQL, deadletters.row(d.topic, d.payload, d.reason, d.received_at))

    def write_batch(self, aggs: Sequence[tuple[Aggregate, str]] = (), dead: Iterable[DeadLetter] = (),
                    statuses: Iterable[tuple[str, str, Status]] = (), healths: Iterable[tuple[str, str, Health]] = (),
                    sessions: Sequence[tuple[str | None, str | None]] | None = None,
                    raw: Sequence[bytes | None] | None = None) -> list[Aggregate]:
        """Everything one ingest batch produced, in ONE transaction; returns the aggregates that were new.

        ``sessions`` (optional, parallel to ``aggs``) gives (section_id, session_id) per aggregate; ``raw``
        (optional, parallel) the validated payload bytes to keep instead of re-serialising (None: re-serialise).
        """
        with self.lock:
            try:
                for d in dead:
                    self._dead_letter(d)
                for site, room, st in statuses:
                    self._status(site, room, st)
                for site, room, h in healths:
                    self._health(site, room, h)
                new = self._insert_aggs(aggs, sessions, raw) if aggs else []
                self.db.commit()
            except BaseException:
                self.db.rollback()
                raise
        return new

    def insert_aggregates(self, aggs: Sequence[tuple[Aggregate, str]]) -> list[Aggregate]:
        """Store (aggregate, received_at) pairs in one transaction; returns those that were new."""
        return self.write_batch(aggs)

    def dead_letter(self, topic: str, payload: bytes, reason: str, received_at: str | None = None) -> None:
        self.write_batch(dead=[DeadLetter(topic, payload, reason, received_at or now_iso())])

    def _status(self, site: str, room: str, st: Status) -> None:
        now = now_iso()
        self.db.execute(
            "INSERT INTO devices (device, site, room, state, state_at, last_seen) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (device) DO UPDATE SET state=excluded.state, "  # never the room: see device_registry
            "state_at=excluded.state_at, last_seen=excluded.last_seen",
            (st.device, site, room, st.state, iso(st.ts) if st.ts else now, now))

    def _health(self, site: str, room: str, h: Health) -> None:
        now, payload = now_iso(), dumps(h).decode()
        self.db.execute(
            "INSERT INTO devices (device, site, room, last_seen, health, health_at) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (device) DO UPDATE SET "  # a device's own messages never move it (fleet view only)
            "last_seen=excluded.last_seen, health=excluded.health, health_at=excluded.health_at",
            (h.device, site, room, now, payload, iso(h.ts)))
        self.db.execute("INSERT INTO device_health (device, ts, payload) VALUES (?, ?, ?) "
                        "ON CONFLICT (device, ts) DO NOTHING", (h.device, iso(h.ts), payload))

    def upsert_status(self, site: str, room: str, st: Status) -> None:
        self.write_batch(statuses=[(site, room, st)])

    def upsert_health(self, site: str, room: str, h: Health) -> None:
        self.write_batch(healths=[(site, room, h)])

    insert_health = upsert_health

    # ------------------------------------------------------------------ sites, rooms, devices
    def upsert_site(self, site: str, name: str = "", tz: str = "UTC") -> None:
        with self.lock:
            self.db.execute("INSERT INTO sites (site, name, timezone) VALUES (?, ?, ?) ON CONFLICT (site) DO UPDATE "
                            "SET name=excluded.name, timezone=excluded.timezone", (site, name, tz))
            self.db.commit()

    def upsert_room(self, site: str, room: str, name: str = "", kind: str = "classroom") -> None:
        with self.lock:
            self.db.execute("INSERT INTO rooms (site, room, name, kind) VALUES (?, ?, ?, ?) ON CONFLICT (site, room) "
                            "DO UPDATE SET name=excluded.name, kind=excluded.kind", (site, room, name, kind))
            self.db.commit()

    def upsert_device(self, device: str, site: str, room: str) -> None:
        """Register (or move) a device; its state comes later from its own status messages."""
        with self.lock:
            self.db.execute("INSERT INTO devices (device, site, room) VALUES (?, ?, ?) ON CONFLICT (device) "
                            "DO UPDATE SET site=excluded.site, room=excluded.room", (device, site, room))
            self.db.commit()

    def delete_device(self, device: str) -> bool:
        with self.lock:
            n = self.db.execute("DELETE FROM devices WHERE device = ?", (device,))
            self.db.commit()
        return n > 0

    def sync_devices(self, devices: Any) -> int:  # noqa: ANN401 - records.timetable.Devices
        """Load a validated ``devices.yaml`` (sites → rooms → device ids) into sites/rooms/devices."""
        n = 0
        for site, s in devices.sites.items():
            self.upsert_site(site, s.org_sourced_id or "", devices.timezone)
            for room, r in s.rooms.items():
                self.upsert_room(site, room, r.name, r.kind)
                self.upsert_device(r.device_id, site, room)
                n += 1
        return n

    def sites(self) -> list[dict[str, Any]]:
        return self._query("SELECT * FROM sites ORDER BY site")

    def site_timezone(self, site: str) -> str:
        rows = self._query("SELECT timezone FROM sites WHERE site = ?", (site,))
        return rows[0]["timezone"] if rows and rows[0]["timezone"] else "UTC"

    def rooms(self, site: str | None = None) -> list[dict[str, Any]]:
        if site is None:
            return self._query("SELECT * FROM rooms ORDER BY site, room")
        return self._query("SELECT * FROM rooms WHERE site = ? ORDER BY room", (site,))

    def devices(self) -> list[dict[str, Any]]:
        rows = self._query("SELECT * FROM devices ORDER BY site, room, device")
        for r in rows:
            r["health"] = json.loads(r["health"]) if r.get("health") else None
        return rows

    def health_history(self, device: str, since: str, limit: int = 1000) -> list[dict[str, Any]]:
        rows = self._query("SELECT ts, payload FROM device_health WHERE device = ? AND ts >= ? ORDER BY ts LIMIT ?",
                           (device, since, limit))
        return [json.loads(r["payload"]) for r in rows]

    def timetable_slots(self, site: str | None = None) -> list[dict[str, Any]]:
        """Rows of the records layer's ``timetable_slots`` (imported from timetable.csv)."""
        if site is None:
            return self._query("SELECT * FROM timetable_slots ORDER BY site, room, weekday, start_time")
        return self._query("SELECT * FROM timetable_slots WHERE site = ? ORDER BY room, weekday, start_time", (site,))

    def upsert_timetable_slot(self, slot: dict[str, Any]) -> None:
        with self.lock:
            self.db.upsert_many(TIMETABLE_SLOTS, [{"term_sourced_id": "", **slot}])
            self.db.commit()

    def term_dates(self) -> dict[str, tuple[str, str]]:
        rows = self._query("SELECT sourced_id, start_date, end_date FROM academic_sessions")
        return {r["sourced_id"]: (r["start_date"], r["end_date"]) for r in rows}

    # ------------------------------------------------------------------ enrolment tokens
    def issue_token(self, site: str, room: str, device: str, ttl: timedelta = timedelta(hours=24)) -> str:
        """A one-time enrolment token for a new device; only its SHA-256 is stored."""
        token = secrets.token_urlsafe(24)
        now = datetime.now(timezone.utc)
        with self.lock:
            self.db.execute("INSERT INTO enrol_tokens (token_sha256, site, room, device, issued_at, expires_at) "
                            "VALUES (?, ?, ?, ?, ?, ?)",
                            (hashlib.sha256(token.encode()).hexdigest(), site, room, device, iso(now), iso(now + ttl)))
            self.db.commit()
        return token

    def redeem_token(self, token: str) -> Enrolment:
        """Use a token once (atomic: two concurrent redeems cannot both succeed); registers the device."""
        digest = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
        now = now_iso()
        with self.lock:
            try:
                n = self.db.execute("UPDATE enrol_tokens SET redeemed_at = ? WHERE token_sha256 = ? "
                                    "AND redeemed_at IS NULL AND expires_at > ?", (now, digest, now))
                if n != 1:
                    raise TokenError("enrolment token is unknown, expired or already used")
                r = self.db.query("SELECT * FROM enrol_tokens WHERE token_sha256 = ?", (digest,))[0]
                self.db.execute("INSERT INTO devices (device, site, room) VALUES (?, ?, ?) ON CONFLICT (device) "
                                "DO UPDATE SET site=excluded.site, room=excluded.room", (r["device"], r["site"], r["room"]))
                self.db.commit()
            except BaseException:
                self.db.rollback()
                raise
        return Enrolment(r["device"], r["site"], r["room"], r["issued_at"], r["expires_at"], r["redeemed_at"])

    # ------------------------------------------------------------------ queries (dashboard)
    def count(self, table: str) -> int:
        with self.lock:
            n = self.db.count(table)
            if self.db.dialect == "postgres":
                self.db.commit()
            return n

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        return self._query("SELECT * FROM dead_letters ORDER BY received_at DESC LIMIT ?", (limit,))

    def dead_letter_page(self, limit: int = 50, offset: int = 0, device: str | None = None) -> dict[str, Any]:
        """Recent dead letters for people: device, time, reason, size, count; never a body (see deadletters)."""
        with self.lock:
            out = deadletters.list_page(self.db, limit, offset, device)
            if self.db.dialect == "postgres":
                self.db.commit()
            return out

    def dead_letter_detail(self, key: str) -> dict[str, Any] | None:
        with self.lock:
            out = deadletters.get(self.db, key)
            if self.db.dialect == "postgres":
                self.db.commit()
            return out

    def purge_dead_letters(self, before: str | None = None, key: str | None = None) -> int:
        with self.lock:
            return deadletters.purge(self.db, before, key)

    def latest_per_room(self) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT a.payload FROM aggregates a JOIN (SELECT site, room, MAX(window_start) AS ws FROM aggregates "
            "GROUP BY site, room) m ON a.site = m.site AND a.room = m.room AND a.window_start = m.ws "
            "ORDER BY a.site, a.room, a.device")
        return [json.loads(r["payload"]) for r in rows]

    def room_aggregates(self, room: str, since: str, until: str | None = None, site: str | None = None
                        ) -> list[dict[str, Any]]:
        sql = "SELECT payload FROM aggregates WHERE room = ? AND window_start >= ? AND window_start < ?"
        params: list[Any] = [room, since, until or "9999"]
        if site is not None:
            sql += " AND site = ?"
            params.append(site)
        rows = self._query(sql + " ORDER BY window_start", params)
        return [json.loads(r["payload"]) for r in rows]

    def session_aggregates(self, session_id: str) -> list[dict[str, Any]]:
        rows = self._query("SELECT payload FROM aggregates WHERE session_id = ? ORDER BY window_start", (session_id,))
        return [json.loads(r["payload"]) for r in rows]

    def section_sessions(self, section_id: str, since: str = "0000", until: str = "9999") -> list[dict[str, Any]]:
        """Rolled-up sessions of one course section (see ``retention.rollup``), oldest first."""
        return self._query("SELECT * FROM session_summaries WHERE section_id = ? AND date >= ? AND date <= ? "
                           "ORDER BY start_utc", (section_id, since, until))

    def week_summaries(self, site: str | None = None, since_week: str = "0000") -> list[dict[str, Any]]:
        if site is None:
            return self._query("SELECT * FROM week_summaries WHERE week >= ? ORDER BY week, site, room", (since_week,))
        return self._query("SELECT * FROM week_summaries WHERE site = ? AND week >= ? ORDER BY week, room",
                           (site, since_week))

    def delete_aggregates_before(self, cutoff: str) -> int:
        with self.lock:
            n = self.db.execute("DELETE FROM aggregates WHERE window_end < ?", (cutoff,))
            self.db.commit()
        return n
