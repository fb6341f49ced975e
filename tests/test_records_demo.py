"""Demo school: deterministic per seed, realistic, conflict-free timetable, drifting students visible."""

from __future__ import annotations

import csv
import hashlib
import re
from collections import defaultdict
from pathlib import Path

import yaml
from _records_helpers import small_demo

from cloud_aggregator.records import generate_demo_school


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_same_seed_same_bytes_different_seed_differs(tmp_path):
    a = _digest(small_demo(tmp_path / "a", seed=11))
    b = _digest(small_demo(tmp_path / "b", seed=11))
    c = _digest(small_demo(tmp_path / "c", seed=12))
    assert a == b
    assert a["oneroster/users.csv"] != c["oneroster/users.csv"]
    assert a["attendance/attendance.csv"] != c["attendance/attendance.csv"]


def test_default_school_shape_and_signals(tmp_path):
    out = generate_demo_school(tmp_path / "school", seed=7)
    users = _read(out / "oneroster" / "users.csv")
    students = [u for u in users if u["role"] == "student"]
    assert len(students) == 300
    assert {u["role"] for u in users} >= {"student", "teacher", "counselor", "advisor"}
    assert sum(bool(re.search(r"[\u4e00-\u9fff]", u["familyName"])) for u in students) > 200  # Chinese names
    assert all(re.fullmatch(r"[A-Za-z'áéíóúñç ]+", u["metadata.classpulse.englishName"]) for u in students)
    devices = yaml.safe_load((out / "devices.yaml").read_text(encoding="utf-8"))
    assert set(devices["sites"]) == {"north", "south"}
    ids = [r["device_id"] for s in devices["sites"].values() for r in s["rooms"].values()]
    assert len(ids) == 24 and len(set(ids)) == 24

    tt = _read(out / "timetable.csv")
    seen_room, seen_teacher = set(), set()
    for r in tt:
        key = (r["site"], r["room"], r["weekday"], r["period"])
        tkey = (r["teacherSourcedId"], r["weekday"], r["period"])
        assert key not in seen_room and tkey not in seen_teacher, r
        seen_room.add(key)
        seen_teacher.add(tkey)
    per_class = defaultdict(set)
    for r in tt:
        per_class[r["classSourcedId"].rsplit("-", 1)[0]].add((r["weekday"], r["period"]))
    assert all(len(v) == 35 for v in per_class.values())  # every homeroom fully timetabled

    truth = {r["studentSourcedId"]: r for r in _read(out / "_truth" / "students.csv")}
    drifting = {s for s, r in truth.items() if r["drifting"] == "1"}
    assert 0.08 <= len(drifting) / len(truth) <= 0.10
    # Signals: after onset, drifting students are absent more, miss more work, score lower.
    absent, total = defaultdict(int), defaultdict(int)
    for r in _read(out / "attendance" / "attendance.csv"):
        late_term = r["date"] >= "2025-10-20"
        grp = (r["studentSourcedId"] in drifting, late_term)
        total[grp] += 1
        absent[grp] += r["status"] in ("absent", "tardy")
    rate = {k: absent[k] / total[k] for k in total}
    assert rate[(True, True)] > 3 * rate[(False, True)]
    assert abs(rate[(True, False)] - rate[(False, False)]) < 0.05
    missing = defaultdict(lambda: [0, 0])
    for r in _read(out / "submissions" / "submissions.csv"):
        if r["dueDateTime"] >= "2025-10-20":
            m = missing[r["studentSourcedId"] in drifting]
            m[0] += r["submittedDateTime"] == "" and r["status"] != "excused"
            m[1] += 1
    assert missing[True][0] / missing[True][1] > 3 * missing[False][0] / missing[False][1]
    lms = defaultdict(lambda: [0, 0])
    for r in _read(out / "lms" / "lms_activity.csv"):
        if r["date"] >= "2025-10-20":
            lms[r["studentSourcedId"] in drifting][0] += int(r["events"])
    per_student = {k: v[0] / (len(drifting) if k else len(truth) - len(drifting)) for k, v in lms.items()}
    assert per_student[True] < 0.7 * per_student[False]
    # sick-week students have excused absences, not a drift signal
    sick = {s for s, r in truth.items() if r["sick_week"]}
    assert sick and not (sick & drifting)
