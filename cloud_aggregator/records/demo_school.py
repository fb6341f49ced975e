"""A seeded synthetic school that writes the same files a real school would import.

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

import csv
import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

TZ = timezone(timedelta(hours=8))  # Asia/Shanghai, no DST
PERIODS = ((time(8, 0), time(8, 45)), (time(8, 55), time(9, 40)), (time(10, 0), time(10, 45)),
           (time(10, 55), time(11, 40)), (time(13, 30), time(14, 15)), (time(14, 25), time(15, 10)),
           (time(15, 20), time(16, 5)))
# code, English title, Chinese title, periods per week, special room kind (or None), homework?
SUBJECTS = (
    ("MATH", "Mathematics", "数学", 6, None, True), ("CHIN", "Chinese", "语文", 6, None, True),
    ("ENGL", "English", "英语", 6, None, True), ("PHYS", "Physics", "物理", 4, "physics_lab", True),
    ("CHEM", "Chemistry", "化学", 3, "chemistry_lab", True), ("BIOL", "Biology", "生物", 3, "biology_lab", True),
    ("HIST", "History", "历史", 2, None, False), ("GEOG", "Geography", "地理", 2, None, False),
    ("PE", "Physical Education", "体育", 2, "gym", False), ("IT", "Information Technology", "信息技术", 1,
                                                            "computer_lab", False),
)
SPECIAL_ROOMS = (("physics_lab", "Physics Lab 物理实验室"), ("chemistry_lab", "Chemistry Lab 化学实验室"),
                 ("biology_lab", "Biology Lab 生物实验室"), ("computer_lab", "Computer Lab 计算机房"),
                 ("gym", "Gymnasium 体育馆"), ("library", "Library 图书馆"), ("music", "Music Room 音乐教室"),
                 ("art", "Art Room 美术教室"), ("lecture", "Lecture Hall 报告厅"))
SURNAMES = (("王", "Wang"), ("李", "Li"), ("张", "Zhang"), ("刘", "Liu"), ("陈", "Chen"), ("杨", "Yang"),
            ("黄", "Huang"), ("赵", "Zhao"), ("吴", "Wu"), ("周", "Zhou"), ("徐", "Xu"), ("孙", "Sun"),
            ("马", "Ma"), ("朱", "Zhu"), ("胡", "Hu"), ("郭", "Guo"), ("何", "He"), ("林", "Lin"),
            ("高", "Gao"), ("罗", "Luo"), ("郑", "Zheng"), ("梁", "Liang"), ("谢", "Xie"), ("宋", "Song"),
            ("唐", "Tang"), ("许", "Xu"), ("邓", "Deng"), ("冯", "Feng"), ("韩", "Han"), ("曹", "Cao"))
GIVEN_NAMES = ("子涵", "梓萱", "浩宇", "欣怡", "雨轩", "一诺", "宇航", "思远", "佳怡", "俊杰", "嘉怡", "博文",
               "诗涵", "梦琪", "晨曦", "若曦", "天佑", "明轩", "可馨", "雅琪", "皓然", "心怡", "子轩", "浩然",
               "梓睿", "语桐", "欣妍", "思彤", "家豪", "文静", "志强", "晓燕", "伟", "敏", "静", "磊", "婷", "杰",
               "芳", "洋")
ENGLISH_GIVEN = ("Amy", "Kevin", "Lucy", "Jason", "Cindy", "Eric", "Grace", "Leo", "Vivian", "Tony", "Iris",
                 "Frank", "Sophie", "Jack", "Coco", "Ryan", "Helen", "Oscar", "Mia", "Daniel", "Emily", "Sam",
                 "Chloe", "Alex", "Nina", "Henry", "Zoe", "Ethan", "Ivy", "Max")
INTL_NAMES = (("Emma", "Schmidt"), ("Lucas", "Martin"), ("Olivia", "Brown"), ("Noah", "Kim"),
              ("Hana", "Sato"), ("Liam", "O'Connor"), ("Sofia", "Rossi"), ("Arjun", "Patel"),
              ("Mateo", "García"), ("Anna", "Novak"), ("Yuki", "Tanaka"), ("Ben", "Cohen"))
def is_holiday(d: date) -> bool:
    """National Day golden week (1–7 Oct) and New Year's Day: no school, fewer LMS logins."""
    return (d.month == 10 and d.day <= 7) or (d.month == 1 and d.day == 1)


@dataclass(frozen=True)
class DemoSpec:
    seed: int = 7
    students: int = 300
    weeks: int = 12
    sites: tuple[str, ...] = ("north", "south")
    rooms_per_site: int = 12
    class_size: int = 30
    start: date = date(2025, 9, 1)  # a Monday
    drift_rate: float = 0.09
    sick_rate: float = 0.05
    opt_out_rate: float = 0.02
    intl_rate: float = 0.1


@dataclass
class Student:
    sid: str
    site: str
    homeroom: str
    grade: str
    given: str
    family: str
    english: str
    ability: float
    engagement: float
    onset: date | None = None
    severity: float = 0.0
    sick_week: int | None = None
    opt_out: bool = False

    def drift(self, day: date) -> float:
        """0 before onset, ramps to ``severity`` over three weeks."""
        if self.onset is None or day < self.onset:
            return 0.0
        return self.severity * min(1.0, ((day - self.onset).days + 1) / 21.0)


@dataclass
class School:
    spec: DemoSpec
    rooms: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    homerooms: list[dict[str, Any]] = field(default_factory=list)
    teachers: list[dict[str, Any]] = field(default_factory=list)
    staff: list[dict[str, Any]] = field(default_factory=list)
    sections: list[dict[str, Any]] = field(default_factory=list)
    timetable: list[dict[str, Any]] = field(default_factory=list)
    students: list[Student] = field(default_factory=list)


def _iso(dt: datetime) -> str:
    return dt.isoformat(timespec="seconds")


def school_days(spec: DemoSpec) -> list[date]:
    days = [spec.start + timedelta(d) for d in range(spec.weeks * 7)]
    return [d for d in days if d.weekday() < 5 and not is_holiday(d)]


def _chinese_name(rng: random.Random) -> tuple[str, str, str]:
    fam, fam_py = rng.choice(SURNAMES)
    given = rng.choice(GIVEN_NAMES)
    return given, fam, f"{rng.choice(ENGLISH_GIVEN)} {fam_py}"


def build_school(spec: DemoSpec) -> School:
    rng = random.Random(spec.seed)  # noqa: S311 - seeded synthetic data, not security
    sch = School(spec)
    per_site = [spec.students // len(spec.sites) + (1 if i < spec.students % len(spec.sites) else 0)
                for i in range(len(spec.sites))]
    sid = 0
    for si, site in enumerate(spec.sites):
        n_home = max(1, math.ceil(per_site[si] / spec.class_size))
        if n_home + len(SPECIAL_ROOMS) < 5:
            raise ValueError("rooms_per_site too small")
        rooms = []
        for h in range(n_home):
            rooms.append({"id": f"r{101 + h}", "name": f"Room {101 + h} 教室", "kind": "homeroom"})
        for kind, name in SPECIAL_ROOMS[: max(0, spec.rooms_per_site - n_home)]:
            rooms.append({"id": kind.replace("_", "-"), "name": name, "kind": kind})
        for r in rooms:
            r["device_id"] = f"cp-{site}-{r['id']}"
        sch.rooms[site] = rooms
        # homerooms: grades 10–12 cycling, named 10A, 11A, 12A, 10B …
        sizes = [per_site[si] // n_home + (1 if h < per_site[si] % n_home else 0) for h in range(n_home)]
        for h in range(n_home):
            grade = str(10 + h % 3)
            hid = f"{site}-{grade}{chr(ord('A') + h // 3)}"
            sch.homerooms.append({"id": hid, "site": site, "grade": grade, "room": rooms[h]["id"], "size": sizes[h]})
            for _ in range(sizes[h]):
                sid += 1
                if rng.random() < spec.intl_rate:
                    given, fam = rng.choice(INTL_NAMES)
                    english = f"{given} {fam}"
                else:
                    given, fam, english = _chinese_name(rng)
                sch.students.append(Student(
                    sid=f"stu-{sid:04d}", site=site, homeroom=hid, grade=grade, given=given, family=fam,
                    english=english, ability=rng.gauss(0, 1), engagement=min(1.6, max(0.4, rng.gauss(1, 0.25)))))
        # teachers: one per subject per up-to-3 homerooms of the site
        site_homes = [h for h in sch.homerooms if h["site"] == site]
        tnum = len(sch.teachers)
        for code, *_ in SUBJECTS:
            for k in range(math.ceil(len(site_homes) / 3)):
                tnum += 1
                given, fam, english = _chinese_name(rng)
                sch.teachers.append({"sid": f"tch-{tnum:03d}", "site": site, "subject": code, "given": given,
                                     "family": fam, "english": english,
                                     "homes": [h["id"] for h in site_homes[k * 3:(k + 1) * 3]]})
        for role in ("counselor", "advisor"):
            given, fam, english = _chinese_name(rng)
            sch.staff.append({"sid": f"{role[:3]}-{site}", "site": site, "role": role, "given": given,
                              "family": fam, "english": english})
    # drift / sick / opt-out assignments (exact counts so small demos still have some)
    days = school_days(spec)
    n = len(sch.students)
    order = list(range(n))
    rng.shuffle(order)
    n_drift = max(1, round(spec.drift_rate * n))
    n_sick = round(spec.sick_rate * n)
    n_opt = round(spec.opt_out_rate * n)
    last_onset_week = max(2, int(spec.weeks * 0.7))
    for i in order[:n_drift]:
        s = sch.students[i]
        week = rng.randint(min(2, last_onset_week), last_onset_week)
        s.onset = spec.start + timedelta(weeks=week, days=rng.randint(0, 4))
        s.severity = rng.uniform(0.55, 1.0)
    for i in order[n_drift:n_drift + n_sick]:
        sch.students[i].sick_week = rng.randint(1, max(1, spec.weeks - 2))
    for i in order[n_drift + n_sick:n_drift + n_sick + n_opt]:
        sch.students[i].opt_out = True
    del days
    _build_timetable(sch, rng)
    return sch


def _build_timetable(sch: School, rng: random.Random) -> None:
    teacher_of = {(h, t["subject"]): t["sid"] for t in sch.teachers for h in t["homes"]}
    busy_teacher: set[tuple[str, int, int]] = set()
    busy_room: set[tuple[str, str, int, int]] = set()
    for home in sch.homerooms:
        site = home["site"]
        special = {r["kind"]: r["id"] for r in sch.rooms[site]}
        for _attempt in range(200):
            slots = [(d, p) for d in range(5) for p in range(len(PERIODS))]
            rng.shuffle(slots)
            free = set(slots)
            placed: list[tuple[int, int, str, str, str]] = []
            ok = True
            for code, _en, _zh, per_week, room_kind, _hw in SUBJECTS:
                teacher = teacher_of[(home["id"], code)]
                per_day: dict[int, int] = {}
                for k in range(per_week):
                    # Science: one lab period per week, others in the homeroom; PE/IT always special.
                    use_special = room_kind is not None and (code in ("PE", "IT") or k == 0)
                    room = special.get(room_kind, home["room"]) if use_special else home["room"]
                    choice = None
                    for d, p in sorted(free, key=lambda s: (per_day.get(s[0], 0), slots.index(s))):
                        if (teacher, d, p) in busy_teacher or (site, room, d, p) in busy_room:
                            continue
                        if per_day.get(d, 0) >= 2:
                            continue
                        choice = (d, p)
                        break
                    if choice is None:
                        ok = False
                        break
                    free.discard(choice)
                    per_day[choice[0]] = per_day.get(choice[0], 0) + 1
                    placed.append((choice[0], choice[1], code, teacher, room))
                if not ok:
                    break
            if ok:
                break
        else:
            raise RuntimeError(f"could not build a timetable for {home['id']}")
        for d, p, code, teacher, room in placed:
            busy_teacher.add((teacher, d, p))
            busy_room.add((site, room, d, p))
            sch.timetable.append({"site": site, "room": room, "weekday": d + 1, "period": p + 1,
                                  "class": f"cls-{home['id']}-{code}", "course_code": f"{code}-{home['grade']}",
                                  "teacher": teacher})
        for code, en, zh, *_ in SUBJECTS:
            sch.sections.append({"sid": f"cls-{home['id']}-{code}", "home": home, "code": code,
                                 "title": f"{en} {zh} {home['id'].split('-')[1]}",
                                 "teacher": teacher_of[(home["id"], code)], "site": site})
    sch.timetable.sort(key=lambda r: (r["site"], r["room"], r["weekday"], r["period"]))


def _write(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        for r in rows:
            w.writerow(["" if v is None else v for v in r])


def _clip(x: float, lo: float = 0.0, hi: float = 100.0) -> float:
    return max(lo, min(hi, x))


def write_demo_school(out: Path, spec: DemoSpec) -> Path:
    """Generate and write every file; deterministic for a given spec."""
    sch = build_school(spec)
    rng = random.Random(spec.seed * 7919 + 1)  # noqa: S311 - seeded synthetic data
    out.mkdir(parents=True, exist_ok=True)
    orr = out / "oneroster"
    days = school_days(spec)
    end = spec.start + timedelta(weeks=spec.weeks)
    term_end = spec.start + timedelta(weeks=20)
    modified = f"{spec.start.isoformat()}T00:00:00Z"

    def common(sid: str) -> list[str]:
        return [sid, "", ""]  # bulk mode: status and dateLastModified empty

    del modified
    _write(orr / "manifest.csv", ["propertyName", "value"], [
        ["manifest.version", "1.0"], ["oneroster.version", "1.1"], ["file.academicSessions", "bulk"],
        ["file.categories", "bulk"], ["file.classes", "bulk"], ["file.classResources", "absent"],
        ["file.courses", "bulk"], ["file.courseResources", "absent"], ["file.demographics", "absent"],
        ["file.enrollments", "bulk"], ["file.lineItems", "bulk"], ["file.orgs", "bulk"],
        ["file.resources", "absent"], ["file.results", "bulk"], ["file.users", "bulk"],
        ["source.systemName", "ClassPulse demo school generator"], ["source.systemCode", f"seed-{spec.seed}"]])
    common_h = ["sourcedId", "status", "dateLastModified"]
    orgs = [[*common("org-district"), "ClassPulse Demo District 示范学区", "district", "CPD", ""]]
    for site in spec.sites:
        orgs.append([*common(f"org-{site}"), f"{site.title()} Campus {'北' if site == 'north' else '南'}校区",
                     "school", site.upper(), "org-district"])
    _write(orr / "orgs.csv", [*common_h, "name", "type", "identifier", "parentSourcedId"], orgs)
    year = spec.start.year
    _write(orr / "academicSessions.csv",
           [*common_h, "title", "type", "startDate", "endDate", "parentSourcedId", "schoolYear"],
           [[*common(f"sy-{year}"), f"{year}-{year + 1} School Year", "schoolYear",
             min(date(year, 8, 25), spec.start).isoformat(), max(date(year + 1, 7, 10), term_end).isoformat(),
             "", year + 1],
            [*common(f"term-{year}-1"), f"Term 1 {year}", "term", spec.start.isoformat(), term_end.isoformat(),
             f"sy-{year}", year + 1]])
    _write(orr / "categories.csv", [*common_h, "title"],
           [[*common("cat-homework"), "homework"], [*common("cat-quiz"), "quiz"], [*common("cat-exam"), "exam"]])
    courses = []
    for code, en, zh, *_ in SUBJECTS:
        for grade in ("10", "11", "12"):
            courses.append([*common(f"crs-{code}-{grade}"), f"sy-{year}", f"{en} {zh} G{grade}", f"{code}-{grade}",
                            grade, "org-district", en, ""])
    _write(orr / "courses.csv", [*common_h, "schoolYearSourcedId", "title", "courseCode", "grades",
                                 "orgSourcedId", "subjects", "subjectCodes"], courses)
    periods_of: dict[str, list[str]] = {}
    room_of: dict[str, str] = {}
    for t in sch.timetable:
        periods_of.setdefault(t["class"], []).append(f"{t['weekday']}-{t['period']}")
        room_of.setdefault(t["class"], t["room"])
    _write(orr / "classes.csv", [*common_h, "title", "grades", "courseSourcedId", "classCode", "classType",
                                 "location", "schoolSourcedId", "termSourcedIds", "subjects", "subjectCodes",
                                 "periods"],
           [[*common(s["sid"]), s["title"], s["home"]["grade"], f"crs-{s['code']}-{s['home']['grade']}",
             s["sid"][4:], "scheduled", room_of.get(s["sid"], ""), f"org-{s['site']}", f"term-{year}-1", "", "",
             ",".join(sorted(periods_of.get(s["sid"], []), key=lambda x: tuple(map(int, x.split("-")))))]
            for s in sch.sections])
    users = []
    uh = [*common_h, "enabledUser", "orgSourcedIds", "role", "username", "userIds", "givenName", "familyName",
          "middleName", "identifier", "email", "sms", "phone", "agentSourcedIds", "grades", "password",
          "metadata.classpulse.optOut", "metadata.classpulse.englishName"]
    for i, s in enumerate(sch.students):
        num = 20250000 + i + 1
        users.append([*common(s.sid), "true", f"org-{s.site}", "student", f"s{num}", "", s.given, s.family, "",
                      str(num), f"s{num}@students.demo-school.example", "", "", "", s.grade, "",
                      "true" if s.opt_out else "false", s.english])
    for t in sch.teachers + sch.staff:
        role = t.get("role", "teacher")
        uname = t["sid"].replace("-", "")
        users.append([*common(t["sid"]), "true", f"org-{t['site']}", role, uname, "", t["given"], t["family"], "",
                      "", f"{uname}@staff.demo-school.example", "", f"+86-21-5550-{rng.randint(1000, 9999)}", "",
                      "", "", "false", t["english"]])
    _write(orr / "users.csv", uh, users)
    enr = []
    by_home: dict[str, list[Student]] = {}
    for s in sch.students:
        by_home.setdefault(s.homeroom, []).append(s)
    for sec in sch.sections:
        enr.append([*common(f"enr-{sec['sid']}-{sec['teacher']}"), sec["sid"], f"org-{sec['site']}", sec["teacher"],
                    "teacher", "true", spec.start.isoformat(), term_end.isoformat()])
        for s in by_home[sec["home"]["id"]]:
            enr.append([*common(f"enr-{sec['sid']}-{s.sid}"), sec["sid"], f"org-{sec['site']}", s.sid, "student",
                        "false", spec.start.isoformat(), term_end.isoformat()])
    _write(orr / "enrollments.csv", [*common_h, "classSourcedId", "schoolSourcedId", "userSourcedId", "role",
                                     "primary", "beginDate", "endDate"], enr)
    # advisors: the Chinese teacher is each homeroom's advisor; the site counsellor sees everyone
    adv = []
    chinese_teacher = {s["home"]["id"]: s["teacher"] for s in sch.sections if s["code"] == "CHIN"}
    for s in sch.students:
        adv.append([s.sid, chinese_teacher[s.homeroom], "advisor", spec.start.isoformat(), ""])
        adv.append([s.sid, f"cou-{s.site}", "counselor", spec.start.isoformat(), ""])
    _write(orr / "advisors.csv", ["studentSourcedId", "staffSourcedId", "role", "beginDate", "endDate"], adv)

    # ---------------------------------------------------------------- line items, submissions, results
    meetings: dict[str, list[tuple[date, int]]] = {}
    for t in sch.timetable:
        for d in days:
            if d.isoweekday() == t["weekday"]:
                meetings.setdefault(t["class"], []).append((d, t["period"]))
    for v in meetings.values():
        v.sort()
    items: list[list[Any]] = []
    subs: list[list[Any]] = []
    results: list[list[Any]] = []
    hw_subjects = {c for c, *_r, hw in SUBJECTS if hw}
    quiz_weeks = [w for w in range(2, spec.weeks, 3)]
    exam_week = max(1, int(spec.weeks * 0.75)) if spec.weeks >= 6 else None
    students_by_sid = {s.sid: s for s in sch.students}
    del students_by_sid
    for sec in sch.sections:
        code = sec["code"]
        roster = by_home[sec["home"]["id"]]
        plan: list[tuple[str, str, date, datetime, float]] = []  # id, category, assign, due, weight
        if code in hw_subjects:
            due_wd = {"MATH": 3, "CHIN": 4, "ENGL": 2, "PHYS": 3, "CHEM": 1, "BIOL": 4}[code]
            for w in range(spec.weeks):
                assign = spec.start + timedelta(weeks=w)
                due_day = assign + timedelta(days=due_wd)
                if due_day >= end:
                    continue
                due = datetime.combine(due_day, time(21, 0), TZ)
                plan.append((f"li-{sec['sid']}-hw{w + 1:02d}", "homework", assign, due, 2.0))
        for w in quiz_weeks:
            day = spec.start + timedelta(weeks=w, days=4)
            if day < end and not is_holiday(day):
                plan.append((f"li-{sec['sid']}-q{w + 1:02d}", "quiz", day - timedelta(days=7),
                             datetime.combine(day, time(16, 0), TZ), 10.0))
        if exam_week is not None:
            day = spec.start + timedelta(weeks=exam_week, days=2)
            if day < end:
                plan.append((f"li-{sec['sid']}-mid", "exam", day - timedelta(days=14),
                             datetime.combine(day, time(12, 0), TZ), 30.0))
        for lid, cat, assign, due, weight in plan:
            title = {"homework": "Homework 作业", "quiz": "Quiz 小测", "exam": "Midterm 期中考试"}[cat]
            items.append([*common(lid), f"{title} {lid.rsplit('-', 1)[1]}", "", f"{assign.isoformat()}T08:00:00+08:00",
                          _iso(due), sec["sid"], f"cat-{cat}", f"term-{year}-1", 0, 100, weight])
            for s in roster:
                dft = s.drift(due.date())
                sick = s.sick_week is not None and (due.date() - spec.start).days // 7 == s.sick_week
                if cat == "homework":
                    excused = sick and rng.random() < 0.6
                    p_missing = 0.03 + 0.5 * dft + (0.05 if s.engagement < 0.7 else 0.0)
                    p_late = 0.06 + 0.3 * dft
                    r = rng.random()
                    if excused:
                        subs.append([lid, s.sid, sec["sid"], _iso(due), "", "excused"])
                        results.append([*common(f"res-{lid}-{s.sid}"), lid, s.sid, "exempt", "",
                                        due.date().isoformat(), ""])
                        continue
                    if r < p_missing:
                        subs.append([lid, s.sid, sec["sid"], _iso(due), "", ""])
                        results.append([*common(f"res-{lid}-{s.sid}"), lid, s.sid, "not submitted", "",
                                        due.date().isoformat(), ""])
                        continue
                    if r < p_missing + p_late:
                        at = due + timedelta(hours=rng.expovariate(1 / (8 + 30 * dft)) + 0.05)
                        penalty = 5.0
                    else:
                        at = due - timedelta(hours=rng.uniform(0.2, 50))
                        penalty = 0.0
                    subs.append([lid, s.sid, sec["sid"], _iso(due), _iso(at), ""])
                    score = _clip(78 + 9 * s.ability - 30 * dft - penalty + rng.gauss(0, 7))
                    results.append([*common(f"res-{lid}-{s.sid}"), lid, s.sid, "fully graded", round(score, 1),
                                    at.date().isoformat(), ""])
                else:
                    if sick and rng.random() < 0.7:
                        results.append([*common(f"res-{lid}-{s.sid}"), lid, s.sid, "exempt", "",
                                        due.date().isoformat(), ""])
                        continue
                    score = _clip(72 + 11 * s.ability - 35 * dft + rng.gauss(0, 9))
                    comment = "请课后找老师 Please see me" if score < 50 else ""
                    results.append([*common(f"res-{lid}-{s.sid}"), lid, s.sid, "fully graded", round(score, 1),
                                    due.date().isoformat(), comment])
    _write(orr / "lineItems.csv", [*common_h, "title", "description", "assignDate", "dueDate", "classSourcedId",
                                   "categorySourcedId", "gradingPeriodSourcedId", "resultValueMin", "resultValueMax",
                                   "metadata.classpulse.weight"], items)
    _write(orr / "results.csv", [*common_h, "lineItemSourcedId", "studentSourcedId", "scoreStatus", "score",
                                 "scoreDate", "comment"], results)
    _write(out / "submissions" / "submissions.csv", ["lineItemSourcedId", "studentSourcedId", "classSourcedId",
                                                     "dueDateTime", "submittedDateTime", "status"], subs)

    # ---------------------------------------------------------------- attendance
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
    _write(out / "attendance" / "attendance.csv",
           ["studentSourcedId", "classSourcedId", "date", "period", "status", "minutesLate"], att)

    # ---------------------------------------------------------------- LMS daily activity
    lms: list[list[Any]] = []
    all_days = [spec.start + timedelta(d) for d in range(spec.weeks * 7)]
    hw_secs: dict[str, list[str]] = {}
    for sec in sch.sections:
        if sec["code"] in hw_subjects:
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
                views = _poisson(rng, lam / 2)
                if views:
                    lms.append([s.sid, sec_id, d.isoformat(), "content_view", views,
                                round(views * rng.uniform(1.5, 4.0), 1)])
            if rng.random() < 0.25 * s.engagement * (1 - 0.8 * dft):
                mins = round(rng.uniform(5, 40) * (1 - 0.5 * dft), 1)
                lms.append([s.sid, rng.choice(hw_secs[s.homeroom]), d.isoformat(), "video_watch",
                            1 + _poisson(rng, 0.5), mins])
            if rng.random() < 0.08 * s.engagement * (1 - 0.9 * dft):
                lms.append([s.sid, rng.choice(hw_secs[s.homeroom]), d.isoformat(), "forum_post", 1, ""])
    _write(out / "lms" / "lms_activity.csv",
           ["studentSourcedId", "classSourcedId", "date", "activityType", "events", "minutes"], lms)

    # ---------------------------------------------------------------- devices, timetable, truth
    devices = {"timezone": "Asia/Shanghai", "sites": {
        site: {"org_sourced_id": f"org-{site}", "rooms": {
            r["id"]: {"name": r["name"], "device_id": r["device_id"], "kind": r["kind"]} for r in sch.rooms[site]}}
        for site in spec.sites}}
    (out / "devices.yaml").write_text(
        "# Demo school devices: MQTT topics are classpulse/v1/<site>/<room>/<device_id>/...\n"
        + yaml.safe_dump(devices, allow_unicode=True, sort_keys=True), encoding="utf-8")
    dev = {(site, r["id"]): r["device_id"] for site in spec.sites for r in sch.rooms[site]}
    _write(out / "timetable.csv", ["site", "room", "device_id", "weekday", "period", "start", "end",
                                   "classSourcedId", "courseCode", "teacherSourcedId", "termSourcedId"],
           [[t["site"], t["room"], dev[(t["site"], t["room"])], t["weekday"], t["period"],
             PERIODS[t["period"] - 1][0].strftime("%H:%M"), PERIODS[t["period"] - 1][1].strftime("%H:%M"),
             t["class"], t["course_code"], t["teacher"], f"term-{year}-1"] for t in sch.timetable])
    _write(out / "_truth" / "students.csv", ["studentSourcedId", "homeroom", "drifting", "onset_date", "severity",
                                             "sick_week", "opt_out"],
           [[s.sid, s.homeroom, int(s.onset is not None), s.onset.isoformat() if s.onset else "",
             round(s.severity, 3) if s.onset else "", "" if s.sick_week is None else s.sick_week, int(s.opt_out)]
            for s in sch.students])
    _write_outcomes(out, sch, term_end, f"term-{year}-1")
    (out / "README.txt").write_text(
        f"ClassPulse demo school (synthetic; seed {spec.seed}, {len(sch.students)} students, {spec.weeks} weeks "
        f"from {spec.start}). Import with: cloud-aggregator import all <this folder>. _truth/ is the generator's "
        "ground truth for evaluating early warnings; it is not an import format.\n", encoding="utf-8")
    return out


def _write_outcomes(out: Path, sch: School, term_end: date, term: str) -> None:
    """outcomes/outcomes.csv: each student's end-of-term result (the risk model's label).

    Synthetic, from the generator's hidden state: a final grade from ability and the drift reached by term
    end (a drifting student keeps drifting after the records stop) plus noise; below 55 is a fail, and
    some severe drifters withdraw before the end. Sick weeks have no effect. ``gender`` is drawn independently of everything (a fairness-audit column, never a
    feature). Its own random stream, so the other files do not change.
    """
    rng = random.Random(sch.spec.seed * 104729 + 3)  # noqa: S311 - seeded synthetic data
    rows = []
    for s in sch.students:
        final = 72 + 10 * s.ability - 35 * s.drift(term_end) - (4 if s.engagement < 0.7 else 0) + rng.gauss(0, 6)
        gender = rng.choice(("F", "M"))
        outcome, day = ("fail" if final < 55 else "pass"), term_end
        if outcome == "fail" and s.severity > 0.8 and rng.random() < 0.5:
            outcome, day = "withdrawn", term_end - timedelta(days=rng.randint(7, 35))
        rows.append([s.sid, term, outcome, day.isoformat(), gender])
    _write(out / "outcomes" / "outcomes.csv", ["studentSourcedId", "termSourcedId", "outcome", "date", "gender"], rows)


def _poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method; lam is small here."""
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
