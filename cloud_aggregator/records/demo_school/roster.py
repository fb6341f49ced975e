"""The OneRoster 1.1 files of the demo school (bulk mode) and ClassPulse's ``advisors.csv`` extension.

Written as a school's SIS would export them: manifest, orgs, academicSessions, categories, courses,
classes, users (names, contacts, the opt-out flag), enrollments; the advisor of each homeroom is its
Chinese teacher and each site's counsellor sees everyone.
"""

from __future__ import annotations

import csv
import random
from datetime import date
from pathlib import Path
from typing import Any

from .school import SUBJECTS, School, by_homeroom, term_end, term_id

#: columns every OneRoster file starts with
BULK_HEADER = ["sourcedId", "status", "dateLastModified"]


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    """One UTF-8 CSV with ``\\n`` line ends (None written as empty), its folder created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        for r in rows:
            w.writerow(["" if v is None else v for v in r])


def bulk(sid: str) -> list[str]:
    """The leading OneRoster columns of a row in bulk mode: status and dateLastModified empty."""
    return [sid, "", ""]


def write_roster(orr: Path, sch: School, rng: random.Random) -> None:
    """Every OneRoster file and advisors.csv into ``orr``; draws the staff's phone numbers from ``rng``."""
    spec = sch.spec
    last_day = term_end(spec)
    write_csv(orr / "manifest.csv", ["propertyName", "value"], [
        ["manifest.version", "1.0"], ["oneroster.version", "1.1"], ["file.academicSessions", "bulk"],
        ["file.categories", "bulk"], ["file.classes", "bulk"], ["file.classResources", "absent"],
        ["file.courses", "bulk"], ["file.courseResources", "absent"], ["file.demographics", "absent"],
        ["file.enrollments", "bulk"], ["file.lineItems", "bulk"], ["file.orgs", "bulk"],
        ["file.resources", "absent"], ["file.results", "bulk"], ["file.users", "bulk"],
        ["source.systemName", "ClassPulse demo school generator"], ["source.systemCode", f"seed-{spec.seed}"]])
    orgs = [[*bulk("org-district"), "ClassPulse Demo District 示范学区", "district", "CPD", ""]]
    for site in spec.sites:
        orgs.append([*bulk(f"org-{site}"), f"{site.title()} Campus {'北' if site == 'north' else '南'}校区",
                     "school", site.upper(), "org-district"])
    write_csv(orr / "orgs.csv", [*BULK_HEADER, "name", "type", "identifier", "parentSourcedId"], orgs)
    year = spec.start.year
    write_csv(orr / "academicSessions.csv",
              [*BULK_HEADER, "title", "type", "startDate", "endDate", "parentSourcedId", "schoolYear"],
              [[*bulk(f"sy-{year}"), f"{year}-{year + 1} School Year", "schoolYear",
                min(date(year, 8, 25), spec.start).isoformat(), max(date(year + 1, 7, 10), last_day).isoformat(),
                "", year + 1],
               [*bulk(term_id(spec)), f"Term 1 {year}", "term", spec.start.isoformat(), last_day.isoformat(),
                f"sy-{year}", year + 1]])
    write_csv(orr / "categories.csv", [*BULK_HEADER, "title"],
              [[*bulk("cat-homework"), "homework"], [*bulk("cat-quiz"), "quiz"], [*bulk("cat-exam"), "exam"]])
    courses = []
    for code, en, zh, *_ in SUBJECTS:
        for grade in ("10", "11", "12"):
            courses.append([*bulk(f"crs-{code}-{grade}"), f"sy-{year}", f"{en} {zh} G{grade}", f"{code}-{grade}",
                            grade, "org-district", en, ""])
    write_csv(orr / "courses.csv", [*BULK_HEADER, "schoolYearSourcedId", "title", "courseCode", "grades",
                                    "orgSourcedId", "subjects", "subjectCodes"], courses)
    periods_of: dict[str, list[str]] = {}
    room_of: dict[str, str] = {}
    for t in sch.timetable:
        periods_of.setdefault(t["class"], []).append(f"{t['weekday']}-{t['period']}")
        room_of.setdefault(t["class"], t["room"])
    write_csv(orr / "classes.csv", [*BULK_HEADER, "title", "grades", "courseSourcedId", "classCode", "classType",
                                    "location", "schoolSourcedId", "termSourcedIds", "subjects", "subjectCodes",
                                    "periods"],
              [[*bulk(s["sid"]), s["title"], s["home"]["grade"], f"crs-{s['code']}-{s['home']['grade']}",
                s["sid"][4:], "scheduled", room_of.get(s["sid"], ""), f"org-{s['site']}", term_id(spec), "", "",
                ",".join(sorted(periods_of.get(s["sid"], []), key=lambda x: tuple(map(int, x.split("-")))))]
               for s in sch.sections])
    users = []
    uh = [*BULK_HEADER, "enabledUser", "orgSourcedIds", "role", "username", "userIds", "givenName", "familyName",
          "middleName", "identifier", "email", "sms", "phone", "agentSourcedIds", "grades", "password",
          "metadata.classpulse.optOut", "metadata.classpulse.englishName"]
    for i, s in enumerate(sch.students):
        num = 20250000 + i + 1
        users.append([*bulk(s.sid), "true", f"org-{s.site}", "student", f"s{num}", "", s.given, s.family, "",
                      str(num), f"s{num}@students.demo-school.example", "", "", "", s.grade, "",
                      "true" if s.opt_out else "false", s.english])
    for t in sch.teachers + sch.staff:
        role = t.get("role", "teacher")
        uname = t["sid"].replace("-", "")
        users.append([*bulk(t["sid"]), "true", f"org-{t['site']}", role, uname, "", t["given"], t["family"], "",
                      "", f"{uname}@staff.demo-school.example", "", f"+86-21-5550-{rng.randint(1000, 9999)}", "",
                      "", "", "false", t["english"]])
    write_csv(orr / "users.csv", uh, users)
    enr = []
    by_home = by_homeroom(sch)
    for sec in sch.sections:
        enr.append([*bulk(f"enr-{sec['sid']}-{sec['teacher']}"), sec["sid"], f"org-{sec['site']}", sec["teacher"],
                    "teacher", "true", spec.start.isoformat(), last_day.isoformat()])
        for s in by_home[sec["home"]["id"]]:
            enr.append([*bulk(f"enr-{sec['sid']}-{s.sid}"), sec["sid"], f"org-{sec['site']}", s.sid, "student",
                        "false", spec.start.isoformat(), last_day.isoformat()])
    write_csv(orr / "enrollments.csv", [*BULK_HEADER, "classSourcedId", "schoolSourcedId", "userSourcedId", "role",
                                        "primary", "beginDate", "endDate"], enr)
    # advisors: the Chinese teacher is each homeroom's advisor; the site counsellor sees everyone
    adv = []
    chinese_teacher = {s["home"]["id"]: s["teacher"] for s in sch.sections if s["code"] == "CHIN"}
    for s in sch.students:
        adv.append([s.sid, chinese_teacher[s.homeroom], "advisor", spec.start.isoformat(), ""])
        adv.append([s.sid, f"cou-{s.site}", "counselor", spec.start.isoformat(), ""])
    write_csv(orr / "advisors.csv", ["studentSourcedId", "staffSourcedId", "role", "beginDate", "endDate"], adv)
