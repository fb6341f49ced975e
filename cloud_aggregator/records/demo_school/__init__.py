"""A seeded synthetic school that writes the same files a real school would import (demo code, not an importer).

Used by the README demo, the dashboard and the tests. Layout of the output folder::

    oneroster/    manifest, orgs, academicSessions, categories, courses, classes, users, enrollments,
                  lineItems, results (OneRoster 1.1 CSV) + advisors.csv (ClassPulse extension)
    attendance/attendance.csv    Ed-Fi style section attendance (present/absent/tardy/excused)
    submissions/submissions.csv  due and submit times (empty submit = missing)
    lms/lms_activity.csv         daily per student, class and activity type
    devices.yaml                 sites → rooms → device ids (topics classpulse/v1/<site>/<room>/<device>)
    timetable.csv                weekly timetable: room/device, weekday, period, times, class
    outcomes/outcomes.csv        end-of-term outcome per student (pass/fail/withdrawn; the risk model's label)
    _truth/students.csv          generator ground truth (who drifts, from when) — NOT an import format

About ``drift_rate`` of the students drift into difficulty from an onset week on: attendance,
punctuality, submissions, scores and LMS activity all worsen gradually, as they do in real
early-warning data; a few others have one bad (sick) week that should *not* raise an alarm.
Same seed → byte-identical files.
"""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import yaml

from .activity import write_attendance, write_lms
from .coursework import write_coursework
from .roster import write_csv, write_roster
from .school import PERIODS, DemoSpec, School, build_school, term_end, term_id

__all__ = ["DemoSpec", "write_demo_school"]


def write_demo_school(out: Path, spec: DemoSpec) -> Path:
    """Generate and write every file; deterministic for a given spec."""
    sch = build_school(spec)
    rng = random.Random(spec.seed * 7919 + 1)  # noqa: S311 - seeded synthetic data
    out.mkdir(parents=True, exist_ok=True)
    # one random stream, drawn in this order: the files stay byte-identical for a seed
    write_roster(out / "oneroster", sch, rng)
    write_coursework(out, sch, rng)
    write_attendance(out, sch, rng)
    write_lms(out, sch, rng)
    devices = {"timezone": "Asia/Shanghai", "sites": {
        site: {"org_sourced_id": f"org-{site}", "rooms": {
            r["id"]: {"name": r["name"], "device_id": r["device_id"], "kind": r["kind"]} for r in sch.rooms[site]}}
        for site in spec.sites}}
    (out / "devices.yaml").write_text(
        "# Demo school devices: MQTT topics are classpulse/v1/<site>/<room>/<device_id>/...\n"
        + yaml.safe_dump(devices, allow_unicode=True, sort_keys=True), encoding="utf-8")
    dev = {(site, r["id"]): r["device_id"] for site in spec.sites for r in sch.rooms[site]}
    write_csv(out / "timetable.csv", ["site", "room", "device_id", "weekday", "period", "start", "end",
                                      "classSourcedId", "courseCode", "teacherSourcedId", "termSourcedId"],
              [[t["site"], t["room"], dev[(t["site"], t["room"])], t["weekday"], t["period"],
                PERIODS[t["period"] - 1][0].strftime("%H:%M"), PERIODS[t["period"] - 1][1].strftime("%H:%M"),
                t["class"], t["course_code"], t["teacher"], term_id(spec)] for t in sch.timetable])
    write_csv(out / "_truth" / "students.csv", ["studentSourcedId", "homeroom", "drifting", "onset_date", "severity",
                                                "sick_week", "opt_out"],
              [[s.sid, s.homeroom, int(s.onset is not None), s.onset.isoformat() if s.onset else "",
                round(s.severity, 3) if s.onset else "", "" if s.sick_week is None else s.sick_week, int(s.opt_out)]
               for s in sch.students])
    _write_outcomes(out, sch)
    (out / "README.txt").write_text(
        f"ClassPulse demo school (synthetic; seed {spec.seed}, {len(sch.students)} students, {spec.weeks} weeks "
        f"from {spec.start}). Import with: cloud-aggregator import all <this folder>. _truth/ is the generator's "
        "ground truth for evaluating early warnings; it is not an import format.\n", encoding="utf-8")
    return out


def _write_outcomes(out: Path, sch: School) -> None:
    """outcomes/outcomes.csv: each student's end-of-term result (the risk model's label).

    Synthetic, from the generator's hidden state: a final grade from ability and the drift reached by term
    end (a drifting student keeps drifting after the records stop) plus noise; below 55 is a fail, and
    some severe drifters withdraw before the end. Sick weeks have no effect. ``gender`` is drawn independently of everything (a fairness-audit column, never a
    feature). Its own random stream, so the other files do not change.
    """
    rng = random.Random(sch.spec.seed * 104729 + 3)  # noqa: S311 - seeded synthetic data
    last_day, term = term_end(sch.spec), term_id(sch.spec)
    rows = []
    for s in sch.students:
        final = 72 + 10 * s.ability - 35 * s.drift(last_day) - (4 if s.engagement < 0.7 else 0) + rng.gauss(0, 6)
        gender = rng.choice(("F", "M"))
        outcome, day = ("fail" if final < 55 else "pass"), last_day
        if outcome == "fail" and s.severity > 0.8 and rng.random() < 0.5:
            outcome, day = "withdrawn", last_day - timedelta(days=rng.randint(7, 35))
        rows.append([s.sid, term, outcome, day.isoformat(), gender])
    write_csv(out / "outcomes" / "outcomes.csv", ["studentSourcedId", "termSourcedId", "outcome", "date", "gender"], rows)
