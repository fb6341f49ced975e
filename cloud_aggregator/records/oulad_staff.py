"""A **generated** staff roster for OULAD, written as OneRoster CSV so warnings have somebody to go to.

OULAD has students, module presentations and assessments but no staff. For the warnings loop
(routing, delivery, interventions) this writes a made-up roster in the same OneRoster form a school
imports (``cloud-aggregator import oneroster DIR``), so no new tables and no special paths:

* ``users.csv`` — one tutor (role ``teacher``) per module presentation and one counsellor
  (``counselor``) for the whole university; names and e-mail addresses are invented
  (``@oulad.example``, a reserved domain).
* ``enrollments.csv`` — each tutor is the teacher of their module presentation (section
  ``oulad-<module>-<presentation>``), so rule warnings reach "the course teacher".
* ``advisors.csv`` — each student's tutor is also their advisor (the Open University's tutor is the
  student's first contact) and the counsellor is every student's counsellor.

Nothing here is OULAD data: the roster is invented and says so (the users' family name is "Generated").
"""

from __future__ import annotations

import csv
from pathlib import Path

from .oulad import ORG_ID, section_id, student_source_id

USERS_HEAD = ["sourcedId", "status", "dateLastModified", "enabledUser", "orgSourcedIds", "role", "username",
              "userIds", "givenName", "familyName", "middleName", "identifier", "email", "sms", "phone",
              "agentSourcedIds", "grades", "password"]
COUNSELLOR_ID = "oulad-staff-counsellor"
EMAIL_DOMAIN = "oulad.example"


def tutor_id(module: str, presentation: str) -> str:
    return f"oulad-staff-tutor-{module}-{presentation}"


def tutor_email(module: str, presentation: str) -> str:
    return f"tutor-{module}-{presentation}@{EMAIL_DOMAIN}".lower()


COUNSELLOR_EMAIL = f"counsellor@{EMAIL_DOMAIN}"


def _user(sid: str, role: str, given: str, email: str) -> list[str]:
    return [sid, "active", "", "true", ORG_ID, role, email.split("@")[0], "", given, "Generated", "", "", email, "",
            "", "", "", ""]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _write(path: Path, head: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(head)
        w.writerows(rows)


def write_staff_roster(oulad_folder: str | Path, out_folder: str | Path) -> Path:
    """Write the generated roster for the module presentations and students in ``oulad_folder``; returns the
    OneRoster folder (import it after ``import oulad``, which creates the sections and students it refers to)."""
    src, out = Path(oulad_folder), Path(out_folder)
    out.mkdir(parents=True, exist_ok=True)
    pres = sorted({(r["code_module"], r["code_presentation"]) for r in _rows(src / "courses.csv")})
    users = [_user(COUNSELLOR_ID, "counselor", "Counsellor", COUNSELLOR_EMAIL)]
    users += [_user(tutor_id(m, p), "teacher", f"Tutor {m} {p}", tutor_email(m, p)) for m, p in pres]
    _write(out / "users.csv", USERS_HEAD, users)
    _write(out / "enrollments.csv", ["sourcedId", "status", "dateLastModified", "classSourcedId", "schoolSourcedId",
                                     "userSourcedId", "role", "primary", "beginDate", "endDate"],
           [[f"oulad-staff-e-{m}-{p}", "active", "", section_id(m, p), ORG_ID, tutor_id(m, p), "teacher", "true", "",
             ""] for m, p in pres])
    known = set(pres)
    adv: list[list[str]] = []
    seen: set[str] = set()
    for r in _rows(src / "studentInfo.csv"):
        key = (r["code_module"], r["code_presentation"])
        if key not in known:
            continue
        s = student_source_id(r["id_student"])
        adv.append([s, tutor_id(*key), "advisor", "", ""])
        if s not in seen:
            seen.add(s)
            adv.append([s, COUNSELLOR_ID, "counselor", "", ""])
    _write(out / "advisors.csv", ["studentSourcedId", "staffSourcedId", "role", "beginDate", "endDate"], adv)
    return out
