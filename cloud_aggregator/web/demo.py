"""Demo-only set-up for the dashboard: one user per role and a lesson running whenever the demo runs.

DEMO ONLY — the passwords below are public. ``seed_demo_users`` links the users to staff of the
imported demo school (teacher of a class taught in the first demo room, the site's counsellor and
class advisor), adds hourly "demo-HH" lessons round the clock for the demo rooms (the sample agents
run at any hour, while the real timetable only covers school hours of its own term; an hour, not one
all-day slot, so the live view spans a lesson as it would in school), and writes a
few past lessons of synthetic class-level windows (device ``demo-history``) so the live view has
a "usual level" to compare with. Never call it on a real school's database.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classpulse_contract import Aggregate
from cloud_aggregator.store import demo_seed

from . import auth

if TYPE_CHECKING:
    from cloud_aggregator.store import Store

DEMO_PASSWORDS = {"teacher": "teacher-demo", "teacher2": "teacher2-demo", "advisor": "advisor-demo",
                  "counsellor": "counsellor-demo", "it": "it-fleet-demo", "admin": "admin-demo"}
HISTORY_DEVICE = "demo-history"


def demo_rooms(school: Path | None, n: int = 2) -> list[tuple[str, str]]:
    """The rooms the demo's agents sit in: the first ``n`` devices of devices.yaml, sorted by device id
    (the order ``cloud_aggregator.demo`` starts agents in)."""
    if school is None:
        return []
    from cloud_aggregator.records.timetable import load_devices

    devices = load_devices(Path(school) / "devices.yaml")
    return [(site, room) for _d, (site, room) in sorted(devices.device_index().items())][:n]


def name_rooms(store: Store, school: Path | str) -> int:
    """Room names (and kinds) of devices.yaml into the store's ``rooms``, so pages say "Room 101 教室", not "r101".

    Only names: the devices themselves appear in the fleet when they first report, not as 'offline' rows.
    """
    from cloud_aggregator.records.timetable import load_devices

    devices = load_devices(Path(school) / "devices.yaml")
    n = 0
    for site, s in devices.sites.items():
        for room, r in s.rooms.items():
            store.upsert_room(site, room, r.name, r.kind)
            n += 1
    return n


def _main_section(store: Store, site: str, room: str, exclude_teachers: set[str]) -> dict[str, Any] | None:  # noqa: ANN401
    rows = demo_seed.room_classes(store, site, room)
    return next((r for r in rows if r["teacher_sourced_id"] and r["teacher_sourced_id"] not in exclude_teachers), None)


def _history(section: str, site: str, room: str, days: int = 6, windows: int = 12, seed: int = 7
             ) -> list[tuple[Aggregate, str, tuple[str, str]]]:
    rng = random.Random(seed * 1000 + sum(map(ord, section)))  # noqa: S311 - synthetic demo numbers
    out = []
    today = datetime.now(timezone.utc).replace(hour=9, minute=0, second=0, microsecond=0)
    msg = int(today.timestamp()) % 10_000_000
    for d in range(days, 0, -1):
        start = today - timedelta(days=d)
        session = f"{section}:{start.date().isoformat()}:demo-{start.hour:02d}"
        for w in range(windows):
            ws = start + timedelta(seconds=60 * w)
            att = min(1.0, max(0.0, rng.gauss(0.72, 0.06)))
            a = Aggregate(msg_id=msg, site=site, room=room, device=HISTORY_DEVICE, window_start=ws,
                          window_end=ws + timedelta(seconds=60), policy="no-emotion", k_anonymity=5,
                          n_faces=rng.randint(20, 30), attention_share=round(att, 3), hand_raises=rng.randint(0, 4),
                          speech_share=round(rng.uniform(0.4, 0.8), 3), teacher_talk_share=round(rng.uniform(0.5, 0.8), 3),
                          engagement=round(min(1.0, att * 0.85 + 0.05), 3))
            msg += 1
            out.append((a, ws.isoformat(), (section, session)))
    return out


def seed_demo_users(store: Store, school: Path | str | None = None, rooms: list[tuple[str, str]] | None = None,
                    history: bool = True) -> list[dict[str, str]]:
    """Create the demo users (idempotent) and the demo lesson; returns [{username, password, role, …}].

    ``school`` is the demo school folder (its devices.yaml gives the demo rooms) unless ``rooms``
    ((site, room) pairs, first = the main demo room) is given. Import the school's records first.
    """
    rooms = rooms or demo_rooms(Path(school) if school else None)
    if not rooms:
        raise ValueError("no demo rooms: pass the demo school folder or rooms=[(site, room)]")
    created: list[dict[str, str]] = []
    used: set[str] = set()
    for i, (site, room) in enumerate(rooms[:2]):
        sec = _main_section(store, site, room, used)
        if sec is None:
            raise ValueError(f"no timetabled class with a teacher in {site}/{room}")
        used.add(sec["teacher_sourced_id"])
        name = "teacher" if i == 0 else "teacher2"
        auth.create_user(store, name, DEMO_PASSWORDS[name], "teacher", staff_sourced_id=sec["teacher_sourced_id"],
                         display_name=f"Demo teacher {i + 1} ({sec['teacher_sourced_id']})", language="zh-CN")
        device_id = demo_seed.room_device_id(store, site, room)
        demo_seed.drop_all_day_slot(store, site, room)
        for weekday in range(1, 8):
            for hour in range(24):
                store.upsert_timetable_slot({
                    "site": site, "room": room, "device_id": device_id, "weekday": weekday,
                    "period": f"demo-{hour:02d}", "start_time": f"{hour:02d}:00",
                    "end_time": f"{hour + 1:02d}:00" if hour < 23 else "23:59",
                    "section_sourced_id": sec["section_sourced_id"], "course_code": "",
                    "teacher_sourced_id": sec["teacher_sourced_id"], "term_sourced_id": ""})
        if history and not demo_seed.has_windows(store, HISTORY_DEVICE, sec["section_sourced_id"]):
            rows = _history(sec["section_sourced_id"], site, room, seed=i)
            store.write_batch([(a, r) for a, r, _ in rows], sessions=[s for _, _, s in rows])
        created.append({"username": name, "password": DEMO_PASSWORDS[name], "role": "teacher",
                        "staff": sec["teacher_sourced_id"], "section": sec["section_sourced_id"], "room": room})
    site = rooms[0][0]
    for role, staff_role in (("counsellor", "counselor"), ("advisor", "advisor")):
        staff = demo_seed.staff_by_assignments(store, staff_role)
        pick = next((r["s"] for r in staff if site in r["s"]), staff[0]["s"] if staff else None)
        if pick is None:
            continue
        auth.create_user(store, role, DEMO_PASSWORDS[role], role, staff_sourced_id=pick,
                         display_name=f"Demo {role} ({pick})", language="zh-CN")
        created.append({"username": role, "password": DEMO_PASSWORDS[role], "role": role, "staff": pick})
    for role in ("it", "admin"):
        auth.create_user(store, role, DEMO_PASSWORDS[role], role, display_name=f"Demo {role}", language="zh-CN")
        created.append({"username": role, "password": DEMO_PASSWORDS[role], "role": role})
    return created
