"""The demo school's day-to-day activity: period attendance and daily LMS use.

Drifting students skip early and late periods first, arrive late more often and log in less; a sick
week is excused absence. Both files are what an SIS and an LMS would export, no names.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from .roster import write_csv
from .school import HW_SUBJECTS, School, by_homeroom, is_holiday, poisson, school_days


def _meetings(sch: School) -> dict[str, list[tuple[date, int]]]:
    """Each class's (day, period) meetings over the generated weeks, in order."""
    meetings: dict[str, list[tuple[date, int]]] = {}
    days = school_days(sch.spec)
    for t in sch.timetable:
        for d in days:
            if d.isoweekday() == t["weekday"]:
                meetings.setdefault(t["class"], []).append((d, t["period"]))
    for v in meetings.values():
        v.sort()
    return meetings


def write_attendance(out: Path, sch: School, rng: random.Random) -> None:
    """attendance/attendance.csv: one row per student and class meeting, drawn from ``rng``."""
    spec = sch.spec
    meetings = _meetings(sch)
    by_home = by_homeroom(sch)
    att: list[list[Any]] = []
    for sec in sch.sections:
        for d, period in meetings.get(sec["sid"], []):
            for s in by_home[sec["home"]["id"]]:
                dft = s.drift(d)
                week = (d - spec.start).days // 7
                if s.sick_week == week and d.weekday() in (1, 2, 3):
                    att.append([s.sid, sec["sid"], d.isoformat(), period, "excused", ""])
                    continue
                # Drifting students skip early and late periods first.
                edge = 1.6 if period in (1, 7) else 1.0
                p_abs = 0.012 + 0.22 * dft * edge
                p_tardy = 0.025 + 0.12 * dft * (1.5 if period == 1 else 1.0)
                p_exc = 0.006
                r = rng.random()
                if r < p_abs:
                    att.append([s.sid, sec["sid"], d.isoformat(), period, "absent", ""])
                elif r < p_abs + p_tardy:
                    att.append([s.sid, sec["sid"], d.isoformat(), period, "tardy",
                                min(40, 1 + int(rng.expovariate(1 / (4 + 10 * dft))))])
                elif r < p_abs + p_tardy + p_exc:
                    att.append([s.sid, sec["sid"], d.isoformat(), period, "excused", ""])
                else:
                    att.append([s.sid, sec["sid"], d.isoformat(), period, "present", ""])
    att.sort(key=lambda r: (r[2], r[1], int(r[3]), r[0]))
    write_csv(out / "attendance" / "attendance.csv",
              ["studentSourcedId", "classSourcedId", "date", "period", "status", "minutesLate"], att)


def write_lms(out: Path, sch: School, rng: random.Random) -> None:
    """lms/lms_activity.csv: logins, content views, videos and forum posts per student and day."""
    spec = sch.spec
    lms: list[list[Any]] = []
    all_days = [spec.start + timedelta(d) for d in range(spec.weeks * 7)]
    hw_secs: dict[str, list[str]] = {}
    for sec in sch.sections:
        if sec["code"] in HW_SUBJECTS:
            hw_secs.setdefault(sec["home"]["id"], []).append(sec["sid"])
    for s in sch.students:
        for d in all_days:
            dft = s.drift(d)
            weekend = d.weekday() >= 5 or is_holiday(d)
            p_login = (0.35 if weekend else 0.85) * min(1.0, s.engagement) * (1 - 0.75 * dft)
            if rng.random() >= p_login:
                continue
            lms.append([s.sid, "", d.isoformat(), "login", 1 + int(rng.random() < 0.3), ""])
            lam = 5.0 * s.engagement * (1 - 0.7 * dft) * (0.6 if weekend else 1.0)
            for sec_id in rng.sample(hw_secs[s.homeroom], k=min(2, len(hw_secs[s.homeroom]))):
                views = poisson(rng, lam / 2)
                if views:
                    lms.append([s.sid, sec_id, d.isoformat(), "content_view", views,
                                round(views * rng.uniform(1.5, 4.0), 1)])
            if rng.random() < 0.25 * s.engagement * (1 - 0.8 * dft):
                mins = round(rng.uniform(5, 40) * (1 - 0.5 * dft), 1)
                lms.append([s.sid, rng.choice(hw_secs[s.homeroom]), d.isoformat(), "video_watch",
                            1 + poisson(rng, 0.5), mins])
            if rng.random() < 0.08 * s.engagement * (1 - 0.9 * dft):
                lms.append([s.sid, rng.choice(hw_secs[s.homeroom]), d.isoformat(), "forum_post", 1, ""])
    write_csv(out / "lms" / "lms_activity.csv",
              ["studentSourcedId", "classSourcedId", "date", "activityType", "events", "minutes"], lms)
