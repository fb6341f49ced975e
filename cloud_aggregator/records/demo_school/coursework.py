"""The demo school's coursework: line items (homework, quizzes, a midterm), submissions and results.

Drifting students hand in late or not at all and score lower as their drift grows; a sick week excuses
some work. Submissions carry due and submit times only: the importer derives on time, late or missing.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from .roster import BULK_HEADER, bulk, write_csv
from .school import HW_SUBJECTS, TZ, School, by_homeroom, clip, is_holiday, iso, term_id


def write_coursework(out: Path, sch: School, rng: random.Random) -> None:
    """lineItems.csv and results.csv (OneRoster) and submissions/submissions.csv, drawn from ``rng``."""
    spec = sch.spec
    orr = out / "oneroster"
    end = spec.start + timedelta(weeks=spec.weeks)
    items: list[list[Any]] = []
    subs: list[list[Any]] = []
    results: list[list[Any]] = []
    quiz_weeks = [w for w in range(2, spec.weeks, 3)]
    exam_week = max(1, int(spec.weeks * 0.75)) if spec.weeks >= 6 else None
    by_home = by_homeroom(sch)
    for sec in sch.sections:
        code = sec["code"]
        roster = by_home[sec["home"]["id"]]
        plan: list[tuple[str, str, date, datetime, float]] = []  # id, category, assign, due, weight
        if code in HW_SUBJECTS:
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
            items.append([*bulk(lid), f"{title} {lid.rsplit('-', 1)[1]}", "", f"{assign.isoformat()}T08:00:00+08:00",
                          iso(due), sec["sid"], f"cat-{cat}", term_id(spec), 0, 100, weight])
            for s in roster:
                dft = s.drift(due.date())
                sick = s.sick_week is not None and (due.date() - spec.start).days // 7 == s.sick_week
                if cat == "homework":
                    excused = sick and rng.random() < 0.6
                    p_missing = 0.03 + 0.5 * dft + (0.05 if s.engagement < 0.7 else 0.0)
                    p_late = 0.06 + 0.3 * dft
                    r = rng.random()
                    if excused:
                        subs.append([lid, s.sid, sec["sid"], iso(due), "", "excused"])
                        results.append([*bulk(f"res-{lid}-{s.sid}"), lid, s.sid, "exempt", "",
                                        due.date().isoformat(), ""])
                        continue
                    if r < p_missing:
                        subs.append([lid, s.sid, sec["sid"], iso(due), "", ""])
                        results.append([*bulk(f"res-{lid}-{s.sid}"), lid, s.sid, "not submitted", "",
                                        due.date().isoformat(), ""])
                        continue
                    if r < p_missing + p_late:
                        at = due + timedelta(hours=rng.expovariate(1 / (8 + 30 * dft)) + 0.05)
                        penalty = 5.0
                    else:
                        at = due - timedelta(hours=rng.uniform(0.2, 50))
                        penalty = 0.0
                    subs.append([lid, s.sid, sec["sid"], iso(due), iso(at), ""])
                    score = clip(78 + 9 * s.ability - 30 * dft - penalty + rng.gauss(0, 7))
                    results.append([*bulk(f"res-{lid}-{s.sid}"), lid, s.sid, "fully graded", round(score, 1),
                                    at.date().isoformat(), ""])
                else:
                    if sick and rng.random() < 0.7:
                        results.append([*bulk(f"res-{lid}-{s.sid}"), lid, s.sid, "exempt", "",
                                        due.date().isoformat(), ""])
                        continue
                    score = clip(72 + 11 * s.ability - 35 * dft + rng.gauss(0, 9))
                    comment = "请课后找老师 Please see me" if score < 50 else ""
                    results.append([*bulk(f"res-{lid}-{s.sid}"), lid, s.sid, "fully graded", round(score, 1),
                                    due.date().isoformat(), comment])
    write_csv(orr / "lineItems.csv", [*BULK_HEADER, "title", "description", "assignDate", "dueDate", "classSourcedId",
                                      "categorySourcedId", "gradingPeriodSourcedId", "resultValueMin", "resultValueMax",
                                      "metadata.classpulse.weight"], items)
    write_csv(orr / "results.csv", [*BULK_HEADER, "lineItemSourcedId", "studentSourcedId", "scoreStatus", "score",
                                    "scoreDate", "comment"], results)
    write_csv(out / "submissions" / "submissions.csv", ["lineItemSourcedId", "studentSourcedId", "classSourcedId",
                                                        "dueDateTime", "submittedDateTime", "status"], subs)
