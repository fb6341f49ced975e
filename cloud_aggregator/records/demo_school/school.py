"""The synthetic school itself: its rooms, staff, students (some drifting, some sick), classes and timetable.

Everything here is drawn from one seeded generator, so the same :class:`DemoSpec` gives the same school;
the writers in this package turn it into the files a real school would export.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

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
#: subjects that set weekly homework
HW_SUBJECTS = frozenset(c for c, *_r, hw in SUBJECTS if hw)
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


def iso(dt: datetime) -> str:
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



def term_id(spec: DemoSpec) -> str:
    """The one term every class runs in (OneRoster academic session id)."""
    return f"term-{spec.start.year}-1"


def term_end(spec: DemoSpec) -> date:
    """The term's last day: 20 weeks after the start, whatever ``weeks`` of records are generated."""
    return spec.start + timedelta(weeks=20)


def by_homeroom(sch: School) -> dict[str, list[Student]]:
    """Students of each homeroom (a class's roster is its homeroom), in enrolment order."""
    out: dict[str, list[Student]] = {}
    for s in sch.students:
        out.setdefault(s.homeroom, []).append(s)
    return out


def clip(x: float, lo: float = 0.0, hi: float = 100.0) -> float:
    return max(lo, min(hi, x))


def poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method; lam is small here."""
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
