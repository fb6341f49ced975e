"""OneRoster 1.1 CSV import (bulk and delta), plus ClassPulse's ``advisors.csv`` extension.

Files are read in dependency order so references can be checked row by row: orgs →
academicSessions → categories → courses → classes → users → enrollments → lineItems → results →
advisors. A missing optional file is fine; a row that points at an unknown parent is rejected
with the reason. ``status=tobedeleted`` (delta mode) deletes the row.

Extension columns (OneRoster allows ``metadata.*``): users ``metadata.classpulse.optOut``
(true/false) and ``metadata.classpulse.englishName``; lineItems ``metadata.classpulse.weight``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cloud_aggregator.store import records_refs as refs
from cloud_aggregator.store.records_tables import (
    ACADEMIC_SESSIONS,
    ADVISOR_ASSIGNMENTS,
    CATEGORIES,
    COURSES,
    ENROLLMENTS,
    LINE_ITEMS,
    ORGS,
    RESULTS,
    SECTIONS,
    USERS,
    Table,
)

from .csvcells import Field, Kind, RowError
from .engine import (
    DELETE,
    ImportContext,
    cached,
    import_csv,
    known_section,
    require,
    section_ids,
    student_pseudonyms,
)

_STATUS = {"active": "active", "tobedeleted": "tobedeleted", "inactive": "tobedeleted"}
COMMON = (
    Field("sourcedId", Kind.ID, required=True, aliases=("sourced_id",)),
    Field("status", Kind.ENUM, choices=_STATUS),
    Field("dateLastModified", Kind.DATETIME),
)
ORG_TYPES = {t: t for t in ("department", "school", "district", "local", "state", "national")}
SESSION_TYPES = {t: t for t in ("gradingperiod", "semester", "schoolyear", "term")}
SESSION_TYPES["gradingPeriod".lower()] = "gradingPeriod"
SESSION_TYPES["schoolyear"] = "schoolYear"
ROLE_CHOICES = {r: r for r in ("student", "teacher", "administrator", "aide", "guardian", "parent", "proctor",
                               "relative", "advisor", "counselor")}
ROLE_CHOICES["counsellor"] = "counselor"
ENROLL_ROLES = {r: r for r in ("student", "teacher", "administrator", "aide", "proctor")}
SCORE_STATUS = {s.lower(): s for s in ("exempt", "fully graded", "not submitted", "partially graded", "submitted")}

ORG_FIELDS = (*COMMON, Field("name", Kind.TEXT, required=True), Field("type", Kind.ENUM, True, choices=ORG_TYPES),
              Field("identifier", Kind.TEXT), Field("parentSourcedId", Kind.ID))
SESSION_FIELDS = (*COMMON, Field("title", Kind.TEXT, True), Field("type", Kind.ENUM, True, choices=SESSION_TYPES),
                  Field("startDate", Kind.DATE, True), Field("endDate", Kind.DATE, True),
                  Field("parentSourcedId", Kind.ID), Field("schoolYear", Kind.INT, min_value=1900, max_value=2200))
CATEGORY_FIELDS = (*COMMON, Field("title", Kind.TEXT, True))
COURSE_FIELDS = (*COMMON, Field("schoolYearSourcedId", Kind.ID), Field("title", Kind.TEXT, True),
                 Field("courseCode", Kind.ID), Field("grades", Kind.LIST), Field("orgSourcedId", Kind.ID, True),
                 Field("subjects", Kind.TEXT), Field("subjectCodes", Kind.TEXT))
CLASS_FIELDS = (*COMMON, Field("title", Kind.TEXT, True), Field("grades", Kind.LIST),
                Field("courseSourcedId", Kind.ID, True), Field("classCode", Kind.ID),
                Field("classType", Kind.ENUM, True, choices={"homeroom": "homeroom", "scheduled": "scheduled"}),
                Field("location", Kind.TEXT), Field("schoolSourcedId", Kind.ID, True),
                Field("termSourcedIds", Kind.LIST, True), Field("subjects", Kind.TEXT),
                Field("subjectCodes", Kind.TEXT), Field("periods", Kind.LIST))
USER_FIELDS = (*COMMON, Field("enabledUser", Kind.BOOL, True), Field("orgSourcedIds", Kind.LIST, True),
               Field("role", Kind.ENUM, True, choices=ROLE_CHOICES), Field("username", Kind.TEXT, True),
               Field("userIds", Kind.TEXT), Field("givenName", Kind.TEXT, True),
               Field("familyName", Kind.TEXT, True), Field("middleName", Kind.TEXT),
               Field("identifier", Kind.TEXT), Field("email", Kind.TEXT), Field("sms", Kind.PHONE),
               Field("phone", Kind.PHONE), Field("agentSourcedIds", Kind.LIST), Field("grades", Kind.LIST),
               Field("password", Kind.TEXT),
               Field("metadata.classpulse.optOut", Kind.BOOL), Field("metadata.classpulse.englishName", Kind.TEXT))
ENROLL_FIELDS = (*COMMON, Field("classSourcedId", Kind.ID, True), Field("schoolSourcedId", Kind.ID, True),
                 Field("userSourcedId", Kind.ID, True), Field("role", Kind.ENUM, True, choices=ENROLL_ROLES),
                 Field("primary", Kind.BOOL), Field("beginDate", Kind.DATE), Field("endDate", Kind.DATE))
LINE_ITEM_FIELDS = (*COMMON, Field("title", Kind.TEXT, True), Field("description", Kind.TEXT),
                    Field("assignDate", Kind.DATETIME, True), Field("dueDate", Kind.DATETIME, True),
                    Field("classSourcedId", Kind.ID, True), Field("categorySourcedId", Kind.ID, True),
                    Field("gradingPeriodSourcedId", Kind.ID, True),
                    Field("resultValueMin", Kind.FLOAT, True), Field("resultValueMax", Kind.FLOAT, True),
                    Field("metadata.classpulse.weight", Kind.FLOAT, min_value=0, max_value=100))
RESULT_FIELDS = (*COMMON, Field("lineItemSourcedId", Kind.ID, True), Field("studentSourcedId", Kind.ID, True),
                 Field("scoreStatus", Kind.ENUM, True, choices=SCORE_STATUS), Field("score", Kind.FLOAT),
                 Field("scoreDate", Kind.DATE, True), Field("comment", Kind.TEXT))
ADVISOR_FIELDS = (Field("studentSourcedId", Kind.ID, True), Field("staffSourcedId", Kind.ID, True),
                  Field("role", Kind.ENUM, True, choices={"advisor": "advisor", "counselor": "counselor",
                                                          "counsellor": "counselor"}),
                  Field("beginDate", Kind.DATE), Field("endDate", Kind.DATE))


def _deleted(v: dict[str, Any], pk: dict[str, Any]) -> dict[str, Any] | None:
    return {DELETE: True, **pk} if v.get("status") == "tobedeleted" else None


def _ids(ctx: ImportContext, table: Table) -> set[str]:
    key = f"ids:{table.name}"
    if key not in ctx.cache:
        ctx.cache[key] = refs.sourced_ids(ctx.db, table)
    return ctx.cache[key]


def _org_row(v: dict[str, Any], ctx: ImportContext) -> dict[str, Any]:
    return _deleted(v, {"sourced_id": v["sourcedId"]}) or {
        "sourced_id": v["sourcedId"], "name": v["name"], "type": v["type"], "identifier": v["identifier"],
        "parent_sourced_id": v["parentSourcedId"]}


def _session_row(v: dict[str, Any], ctx: ImportContext) -> dict[str, Any]:
    if d := _deleted(v, {"sourced_id": v["sourcedId"]}):
        return d
    require(v["startDate"] <= v["endDate"], "endDate is before startDate", "endDate")
    return {"sourced_id": v["sourcedId"], "title": v["title"], "type": v["type"], "start_date": v["startDate"],
            "end_date": v["endDate"], "parent_sourced_id": v["parentSourcedId"],
            "school_year": None if v["schoolYear"] is None else str(v["schoolYear"])}


def _category_row(v: dict[str, Any], ctx: ImportContext) -> dict[str, Any]:
    return _deleted(v, {"sourced_id": v["sourcedId"]}) or {"sourced_id": v["sourcedId"], "title": v["title"]}


def _course_row(v: dict[str, Any], ctx: ImportContext) -> dict[str, Any]:
    if d := _deleted(v, {"sourced_id": v["sourcedId"]}):
        return d
    require(v["orgSourcedId"] in _ids(ctx, ORGS), f"unknown org {v['orgSourcedId']!r}", "orgSourcedId")
    return {"sourced_id": v["sourcedId"], "title": v["title"], "course_code": v["courseCode"],
            "school_year_sourced_id": v["schoolYearSourcedId"], "org_sourced_id": v["orgSourcedId"],
            "grades": v["grades"], "subjects": v["subjects"]}


def _class_row(v: dict[str, Any], ctx: ImportContext) -> dict[str, Any]:
    if d := _deleted(v, {"sourced_id": v["sourcedId"]}):
        return d
    require(v["schoolSourcedId"] in _ids(ctx, ORGS), f"unknown school {v['schoolSourcedId']!r}",
            "schoolSourcedId")
    courses = cached(ctx, "course_codes", lambda: refs.course_codes(ctx.db))
    # OneRoster requires courses.csv; when a school sends none we fall back to classCode as course code.
    if courses:
        require(v["courseSourcedId"] in courses, f"unknown course {v['courseSourcedId']!r}", "courseSourcedId")
    sessions = _ids(ctx, ACADEMIC_SESSIONS)
    for term in v["termSourcedIds"].split(","):
        require(term in sessions, f"unknown academic session {term!r}", "termSourcedIds")
    return {"sourced_id": v["sourcedId"], "title": v["title"], "class_code": v["classCode"],
            "course_sourced_id": v["courseSourcedId"],
            "course_code": courses.get(v["courseSourcedId"]) or v["classCode"],
            "class_type": v["classType"], "school_sourced_id": v["schoolSourcedId"],
            "term_sourced_ids": v["termSourcedIds"], "grades": v["grades"], "subjects": v["subjects"],
            "periods": v["periods"], "location": v["location"]}


def _user_row(v: dict[str, Any], ctx: ImportContext) -> dict[str, Any]:
    if d := _deleted(v, {"sourced_id": v["sourcedId"]}):
        return d
    if v.get("password"):
        ctx.report.warnings.append(f"user {ctx.keys.pseudonym(v['sourcedId'])}: password column ignored "
                                   "(ClassPulse never stores passwords)")
    orgs = _ids(ctx, ORGS)
    for org in v["orgSourcedIds"].split(","):
        require(org in orgs, f"unknown org {org!r}", "orgSourcedIds")
    return {
        "sourced_id": v["sourcedId"], "pseudonym": ctx.keys.pseudonym(v["sourcedId"]), "role": v["role"],
        "enabled": int(v["enabledUser"]), "org_sourced_ids": v["orgSourcedIds"], "grades": v["grades"],
        "agent_sourced_ids": v["agentSourcedIds"],
        "name_enc": {"given": v["givenName"], "family": v["familyName"], "middle": v["middleName"],
                     "english": v["metadata.classpulse.englishName"]},
        "contact_enc": {"username": v["username"], "user_ids": v["userIds"], "identifier": v["identifier"],
                        "email": v["email"], "sms": v["sms"], "phone": v["phone"]},
        "opt_out": int(bool(v["metadata.classpulse.optOut"])),
    }


def _user_pseudonym(ctx: ImportContext, sid: str, field_name: str, role: str | None = None) -> str:
    users = cached(ctx, "user_roles", lambda: refs.user_roles(ctx.db))
    require(sid in users, f"unknown user {sid[:40]!r}", field_name)
    if role is not None:
        require(users[sid][1] == role, f"user {sid[:40]!r} is a {users[sid][1]}, not a {role}", field_name)
    return users[sid][0]


def _enrollment_row(v: dict[str, Any], ctx: ImportContext) -> dict[str, Any]:
    if d := _deleted(v, {"sourced_id": v["sourcedId"]}):
        return d
    known_section(ctx, v["classSourcedId"])
    require(v["schoolSourcedId"] in _ids(ctx, ORGS), f"unknown school {v['schoolSourcedId']!r}",
            "schoolSourcedId")
    p = _user_pseudonym(ctx, v["userSourcedId"], "userSourcedId")
    if v["beginDate"] and v["endDate"]:
        require(v["beginDate"] <= v["endDate"], "endDate is before beginDate", "endDate")
    return {"sourced_id": v["sourcedId"], "section_sourced_id": v["classSourcedId"],
            "school_sourced_id": v["schoolSourcedId"], "user_pseudonym": p, "role": v["role"],
            "is_primary": int(bool(v["primary"])), "begin_date": v["beginDate"], "end_date": v["endDate"]}


def _line_item_row(v: dict[str, Any], ctx: ImportContext) -> dict[str, Any]:
    if d := _deleted(v, {"sourced_id": v["sourcedId"]}):
        return d
    known_section(ctx, v["classSourcedId"])
    cats = cached(ctx, "categories", lambda: refs.category_titles(ctx.db))
    require(v["categorySourcedId"] in cats, f"unknown category {v['categorySourcedId']!r}", "categorySourcedId")
    require(v["resultValueMin"] <= v["resultValueMax"], "resultValueMax is below resultValueMin", "resultValueMax")
    return {"sourced_id": v["sourcedId"], "title": v["title"], "description": v["description"],
            "assign_date": v["assignDate"], "due_at": v["dueDate"], "section_sourced_id": v["classSourcedId"],
            "category": cats[v["categorySourcedId"]], "grading_period_sourced_id": v["gradingPeriodSourcedId"],
            "result_value_min": v["resultValueMin"], "result_value_max": v["resultValueMax"],
            "weight": v["metadata.classpulse.weight"]}


def _result_row(v: dict[str, Any], ctx: ImportContext) -> dict[str, Any]:
    if d := _deleted(v, {"sourced_id": v["sourcedId"]}):
        return d
    items = cached(ctx, "line_item_ranges", lambda: refs.line_item_ranges(ctx.db))
    require(v["lineItemSourcedId"] in items, f"unknown line item {v['lineItemSourcedId']!r}", "lineItemSourcedId")
    p = _user_pseudonym(ctx, v["studentSourcedId"], "studentSourcedId", role="student")
    lo, hi = items[v["lineItemSourcedId"]]
    if v["score"] is not None and lo is not None and hi is not None:
        require(lo <= v["score"] <= hi, f"score {v['score']:g} outside the line item's range {lo:g}–{hi:g}", "score")
    return {"sourced_id": v["sourcedId"], "line_item_sourced_id": v["lineItemSourcedId"], "student_pseudonym": p,
            "score_status": v["scoreStatus"], "score": v["score"], "score_date": v["scoreDate"],
            "comment_enc": {"comment": v["comment"]} if v["comment"] else None}


def _advisor_row(v: dict[str, Any], ctx: ImportContext) -> dict[str, Any]:
    p = _user_pseudonym(ctx, v["studentSourcedId"], "studentSourcedId", role="student")
    _user_pseudonym(ctx, v["staffSourcedId"], "staffSourcedId")
    users = ctx.cache["user_roles"]
    staff_role = users[v["staffSourcedId"]][1]
    if staff_role not in ("advisor", "counselor", "teacher", "administrator"):
        raise RowError(f"user {v['staffSourcedId']!r} is a {staff_role}; advisors must be staff", "staffSourcedId")
    return {"student_pseudonym": p, "staff_sourced_id": v["staffSourcedId"], "role": v["role"],
            "begin_date": v["beginDate"], "end_date": v["endDate"]}


# (file name, fields, table, row function, cache keys to drop after the file is written)
STEPS = (
    ("orgs.csv", ORG_FIELDS, ORGS, _org_row, ("ids:orgs",)),
    ("academicSessions.csv", SESSION_FIELDS, ACADEMIC_SESSIONS, _session_row, ("ids:academic_sessions",)),
    ("categories.csv", CATEGORY_FIELDS, CATEGORIES, _category_row, ("categories",)),
    ("courses.csv", COURSE_FIELDS, COURSES, _course_row, ("course_codes",)),
    ("classes.csv", CLASS_FIELDS, SECTIONS, _class_row, ("sections",)),
    ("users.csv", USER_FIELDS, USERS, _user_row, ("user_roles", "students")),
    ("enrollments.csv", ENROLL_FIELDS, ENROLLMENTS, _enrollment_row, ()),
    ("lineItems.csv", LINE_ITEM_FIELDS, LINE_ITEMS, _line_item_row, ("line_item_ranges",)),
    ("results.csv", RESULT_FIELDS, RESULTS, _result_row, ()),
    ("advisors.csv", ADVISOR_FIELDS, ADVISOR_ASSIGNMENTS, _advisor_row, ()),
)


def import_oneroster(ctx: ImportContext, folder: Path) -> None:
    """Import every OneRoster file present in ``folder`` (manifest.csv optional, checked if present)."""
    if not folder.is_dir():
        ctx.report.errors.append(f"{folder}: not a folder of OneRoster CSV files")
        return
    present = {p.name.lower(): p for p in folder.iterdir() if p.is_file()}
    if not any(name.lower() in present for name, *_ in STEPS):
        ctx.report.errors.append(f"{folder}: no OneRoster files found (expected e.g. orgs.csv, users.csv)")
        return
    manifest = present.get("manifest.csv")
    if manifest is not None:
        _check_manifest(ctx, manifest)
    for name, fields, table, fn, invalidate in STEPS:
        path = present.get(name.lower())
        if path is None:
            continue
        import_csv(ctx, path, fields, table, fn)
        for key in invalidate:
            ctx.cache.pop(key, None)
        if table is USERS:
            student_pseudonyms(ctx)
        if table is SECTIONS:
            section_ids(ctx)


def _check_manifest(ctx: ImportContext, path: Path) -> None:
    from .csvsafe import CsvFileError, ParsedRow, open_csv

    try:
        src = open_csv(path, (Field("propertyName", Kind.ID, True), Field("value", Kind.TEXT)))
    except CsvFileError as e:
        ctx.report.warnings.append(f"manifest.csv ignored: {e}")
        return
    props = {r.values["propertyName"]: r.values["value"] for r in src if isinstance(r, ParsedRow)}
    version = props.get("oneroster.version")
    if version and version not in ("1.1", "1.0"):
        ctx.report.warnings.append(f"manifest.csv says OneRoster {version}; this importer reads 1.1")
    for key, val in props.items():
        if key.startswith("file.") and val == "bulk" and not (path.parent / f"{key[5:]}.csv").exists():
            ctx.report.warnings.append(f"manifest.csv lists {key[5:]}.csv as bulk but the file is missing")
