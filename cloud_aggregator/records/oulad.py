"""Open University Learning Analytics Dataset (OULAD): pandas loaders and a row-validated importer.

Two ways in, on purpose:

* :func:`load_oulad_tables` — pure pandas, typed (nullable ints for missing days), for model
  training and evaluation (the warnings engineer reuses it). No database, no validation beyond dtypes.
* :func:`import_oulad` — the same files through the records importer, so OULAD doubles as
  validation data for the tables a real school fills: module presentations → sections,
  assessments → line_items, studentInfo → users (no names: OULAD has none) + oulad_student_info,
  studentRegistration → enrollments, studentAssessment → results and submissions, studentVle(_daily)
  → lms_activity, course daily click totals → lms_course_daily; final_result → student_outcomes.

OULAD counts days from each presentation's start; we anchor day 0 at 1 February (``B``) or
1 October (``J``) of the presentation year — an approximation, documented in docs/records.md.
Banked assessments (carried over from an earlier attempt) are stored as results and as
``excused`` submissions, not as new hand-ins. OULAD has no row for work not handed in ("a missing row =
not submitted"); :func:`_missing` derives those as ``missing`` submissions (TMA/CMA only, and only for
students registered on the cut-off day) so the missing-work rule and features see them.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from cloud_aggregator.store import records_oulad as store_oulad
from cloud_aggregator.store.records_tables import (
    ACADEMIC_SESSIONS,
    COURSES,
    ENROLLMENTS,
    LINE_ITEMS,
    LMS_ACTIVITY,
    LMS_COURSE_DAILY,
    ORGS,
    OULAD_STUDENT_INFO,
    RESULTS,
    SECTIONS,
    STUDENT_OUTCOMES,
    SUBMISSIONS,
    USERS,
)

from .csvcells import Field, Kind
from .engine import ImportContext, import_csv, known_student, require, write_derived
from .lms import merge_activity
from .submissions import derive_status

ORG_ID = "oulad"
FINAL_RESULTS = {"pass": "Pass", "fail": "Fail", "withdrawn": "Withdrawn", "distinction": "Distinction"}
ASSESSMENT_TYPES = {"tma": "TMA", "cma": "CMA", "exam": "Exam"}

# ------------------------------------------------------------------------------------ pandas loaders

_DTYPES: dict[str, dict[str, str]] = {
    "courses": {"code_module": "string", "code_presentation": "string", "module_presentation_length": "Int64"},
    "assessments": {"code_module": "string", "code_presentation": "string", "id_assessment": "Int64",
                    "assessment_type": "string", "date": "Int64", "weight": "Float64"},
    "vle": {"id_site": "Int64", "code_module": "string", "code_presentation": "string",
            "activity_type": "string", "week_from": "Int64", "week_to": "Int64"},
    "studentInfo": {"code_module": "string", "code_presentation": "string", "id_student": "Int64",
                    "gender": "string", "region": "string", "highest_education": "string", "imd_band": "string",
                    "age_band": "string", "num_of_prev_attempts": "Int64", "studied_credits": "Int64",
                    "disability": "string", "final_result": "string"},
    "studentRegistration": {"code_module": "string", "code_presentation": "string", "id_student": "Int64",
                            "date_registration": "Int64", "date_unregistration": "Int64"},
    "studentAssessment": {"id_assessment": "Int64", "id_student": "Int64", "date_submitted": "Int64",
                          "is_banked": "Int64", "score": "Float64"},
    "studentVle_daily": {"code_module": "string", "code_presentation": "string", "id_student": "Int64",
                         "date": "Int64", "activity_type": "string", "sum_click": "Int64"},
    "studentVle": {"code_module": "string", "code_presentation": "string", "id_student": "Int64",
                   "id_site": "Int64", "date": "Int64", "sum_click": "Int64"},
    "studentVle_course_daily_totals": {"code_module": "string", "code_presentation": "string", "date": "Int64",
                                       "total_clicks": "Int64"},
}
_FILES = {"studentVle_daily": "studentVle_daily.csv.gz"}
REQUIRED_TABLES = ("courses", "assessments", "studentInfo", "studentRegistration", "studentAssessment")


def load_oulad_tables(folder: str | Path, tables: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Read the OULAD CSVs present in ``folder`` into typed DataFrames keyed by table name.

    Required: courses, assessments, studentInfo, studentRegistration, studentAssessment (FileNotFoundError
    names the missing one). Optional when present: vle, studentVle, studentVle_daily (.csv.gz),
    studentVle_course_daily_totals. Missing values are pandas NA; ``imd_band`` '10-20' is normalised to
    '10-20%' as in the other bands.
    """
    import pandas as pd

    folder = Path(folder)
    out: dict[str, Any] = {}
    for name, dtypes in _DTYPES.items():
        if tables is not None and name not in tables:
            continue
        path = folder / _FILES.get(name, f"{name}.csv")
        if not path.exists():
            if name in REQUIRED_TABLES:
                raise FileNotFoundError(f"OULAD table {path.name} not found in {folder}")
            continue
        df = pd.read_csv(path, dtype=dtypes, keep_default_na=False, na_values=[""])
        if name == "studentInfo":
            df["imd_band"] = df["imd_band"].replace({"10-20": "10-20%"})
        out[name] = df
    return out


def subset_tables(tables: dict[str, Any], presentations: set[str]) -> dict[str, Any]:
    """The tables restricted to some presentations (studentAssessment through its assessments)."""
    ass = tables["assessments"]
    ids = set(ass.loc[ass["code_presentation"].isin(presentations), "id_assessment"])
    out: dict[str, Any] = {}
    for name, df in tables.items():
        if "code_presentation" in df:
            keep = df["code_presentation"].isin(presentations)
        elif "id_assessment" in df:
            keep = df["id_assessment"].isin(ids)
        else:
            keep = slice(None)
        out[name] = df[keep].reset_index(drop=True)
    return out


def presentation_start(code_presentation: str) -> date:
    """Day 0 of a presentation: '2013J' → 2013-10-01, '2014B' → 2014-02-01."""
    code = code_presentation.strip()
    if len(code) != 5 or not code[:4].isdigit() or code[4] not in "BJ":
        raise ValueError(f"not an OULAD presentation code: {code_presentation!r}")
    return date(int(code[:4]), 2 if code[4] == "B" else 10, 1)


def day_to_date(code_presentation: str, day: int) -> str:
    return (presentation_start(code_presentation) + timedelta(days=int(day))).isoformat()


def section_id(module: str, presentation: str) -> str:
    return f"oulad-{module}-{presentation}"


def student_source_id(id_student: int | str) -> str:
    return f"oulad-{int(id_student)}"


# ------------------------------------------------------------------------------------ row importer

_MOD = Field("code_module", Kind.ID, True)
_PRES = Field("code_presentation", Kind.ID, True)
_STU = Field("id_student", Kind.INT, True, min_value=0)
COURSE_FIELDS = (_MOD, _PRES, Field("module_presentation_length", Kind.INT, True, min_value=1, max_value=1000))
ASSESSMENT_FIELDS = (_MOD, _PRES, Field("id_assessment", Kind.INT, True, min_value=0),
                     Field("assessment_type", Kind.ENUM, True, choices=ASSESSMENT_TYPES),
                     Field("date", Kind.INT, min_value=-1000, max_value=1000),
                     Field("weight", Kind.FLOAT, True, min_value=0, max_value=100))
INFO_FIELDS = (_MOD, _PRES, _STU, Field("gender", Kind.TEXT), Field("region", Kind.TEXT),
               Field("highest_education", Kind.TEXT), Field("imd_band", Kind.TEXT), Field("age_band", Kind.TEXT),
               Field("num_of_prev_attempts", Kind.INT, True, min_value=0, max_value=100),
               Field("studied_credits", Kind.INT, True, min_value=0, max_value=1000),
               Field("disability", Kind.TEXT), Field("final_result", Kind.ENUM, True, choices=FINAL_RESULTS))
REG_FIELDS = (_MOD, _PRES, _STU, Field("date_registration", Kind.INT, min_value=-1000, max_value=1000),
              Field("date_unregistration", Kind.INT, min_value=-1000, max_value=1000))
SA_FIELDS = (Field("id_assessment", Kind.INT, True, min_value=0), _STU,
             Field("date_submitted", Kind.INT, True, min_value=-1000, max_value=1000),
             Field("is_banked", Kind.INT, True, min_value=0, max_value=1),
             Field("score", Kind.FLOAT, min_value=0, max_value=100))
VLE_DAILY_FIELDS = (_MOD, _PRES, _STU, Field("date", Kind.INT, True, min_value=-1000, max_value=1000),
                    Field("activity_type", Kind.ID, True), Field("sum_click", Kind.INT, True, min_value=0))
VLE_RAW_FIELDS = (_MOD, _PRES, _STU, Field("id_site", Kind.INT, True, min_value=0),
                  Field("date", Kind.INT, True, min_value=-1000, max_value=1000),
                  Field("sum_click", Kind.INT, True, min_value=0))
VLE_FIELDS = (Field("id_site", Kind.INT, True, min_value=0), _MOD, _PRES, Field("activity_type", Kind.ID, True),
              Field("week_from", Kind.INT), Field("week_to", Kind.INT))
COURSE_TOTAL_FIELDS = (_MOD, _PRES, Field("date", Kind.INT, True, min_value=-1000, max_value=1000),
                       Field("total_clicks", Kind.INT, True, min_value=0))


def _pres(v: dict[str, Any]) -> str:
    try:
        presentation_start(v["code_presentation"])
    except ValueError as e:
        from .csvcells import RowError

        raise RowError(str(e), "code_presentation") from None
    return v["code_presentation"]


def _known_section(ctx: ImportContext, v: dict[str, Any]) -> str:
    sid = section_id(v["code_module"], _pres(v))
    require(sid in ctx.cache["oulad_lengths"], f"module presentation {v['code_module']} {v['code_presentation']} "
            "is not in courses.csv", "code_module")
    return sid


def _course_row(v: dict[str, Any], ctx: ImportContext) -> dict[str, Any]:
    pres = _pres(v)
    sid = section_id(v["code_module"], pres)
    ctx.cache["oulad_lengths"][sid] = (pres, v["module_presentation_length"])
    return {"sourced_id": sid, "title": f"{v['code_module']} {pres}", "class_code": f"{v['code_module']}-{pres}",
            "course_sourced_id": f"oulad-{v['code_module']}", "course_code": v["code_module"],
            "class_type": "scheduled", "school_sourced_id": ORG_ID, "term_sourced_ids": f"oulad-{pres}",
            "grades": None, "subjects": None, "periods": None, "location": None}


def _assessment_row(v: dict[str, Any], ctx: ImportContext) -> dict[str, Any]:
    sec = _known_section(ctx, v)
    pres, length = ctx.cache["oulad_lengths"][sec]
    day = v["date"] if v["date"] is not None else length  # missing exam date: end of the presentation
    due = f"{day_to_date(pres, day)}T23:59:59Z"
    ctx.cache["oulad_assessments"][v["id_assessment"]] = (sec, pres, due)
    return {"sourced_id": f"oulad-a-{v['id_assessment']}", "title": f"{v['assessment_type']} {v['id_assessment']}",
            "description": None, "assign_date": None, "due_at": due, "section_sourced_id": sec,
            "category": v["assessment_type"], "grading_period_sourced_id": f"oulad-{pres}",
            "result_value_min": 0.0, "result_value_max": 100.0, "weight": v["weight"]}


def _info_row(v: dict[str, Any], ctx: ImportContext) -> dict[str, Any]:
    sec = _known_section(ctx, v)
    src = student_source_id(v["id_student"])
    ctx.cache["oulad_new_students"].add(src)
    return {"student_pseudonym": ctx.keys.pseudonym(src), "section_sourced_id": sec,
            "final_result": v["final_result"], "num_of_prev_attempts": v["num_of_prev_attempts"],
            "studied_credits": v["studied_credits"], "gender": v["gender"], "region": v["region"],
            "highest_education": v["highest_education"],
            "imd_band": "10-20%" if v["imd_band"] == "10-20" else v["imd_band"], "age_band": v["age_band"],
            "disability": v["disability"]}


def _reg_row(v: dict[str, Any], ctx: ImportContext) -> dict[str, Any]:
    sec = _known_section(ctx, v)
    p = known_student(ctx, student_source_id(v["id_student"]), "id_student")
    pres = v["code_presentation"]
    reg, unreg = v["date_registration"], v["date_unregistration"]
    if reg is not None and unreg is not None:
        require(unreg >= reg, "date_unregistration is before date_registration", "date_unregistration")
    return {"sourced_id": f"oulad-e-{v['code_module']}-{pres}-{v['id_student']}", "section_sourced_id": sec,
            "school_sourced_id": ORG_ID, "user_pseudonym": p, "role": "student", "is_primary": 0,
            "begin_date": None if reg is None else day_to_date(pres, reg),
            "end_date": None if unreg is None else day_to_date(pres, unreg)}


def _sa_common(v: dict[str, Any], ctx: ImportContext) -> tuple[str, str, str, str, str]:
    a = ctx.cache["oulad_assessments"].get(v["id_assessment"])
    require(a is not None, f"unknown assessment {v['id_assessment']} (not in assessments.csv)", "id_assessment")
    sec, pres, due = a
    p = known_student(ctx, student_source_id(v["id_student"]), "id_student")
    return sec, pres, due, p, day_to_date(pres, v["date_submitted"])


def _result_row(v: dict[str, Any], ctx: ImportContext) -> dict[str, Any]:
    _sec, _pres_, _due, p, submitted_day = _sa_common(v, ctx)
    return {"sourced_id": f"oulad-r-{v['id_assessment']}-{v['id_student']}",
            "line_item_sourced_id": f"oulad-a-{v['id_assessment']}", "student_pseudonym": p,
            "score_status": "fully graded" if v["score"] is not None else "submitted", "score": v["score"],
            "score_date": submitted_day, "comment_enc": None}


def _submission_row(v: dict[str, Any], ctx: ImportContext) -> dict[str, Any]:
    sec, _pres_, due, p, submitted_day = _sa_common(v, ctx)
    submitted = f"{submitted_day}T12:00:00Z"  # OULAD has days only; same day as the cut-off = on time
    status, late = derive_status(due, submitted, excused=bool(v["is_banked"]))
    return {"line_item_sourced_id": f"oulad-a-{v['id_assessment']}", "student_pseudonym": p,
            "section_sourced_id": sec, "due_at": due, "submitted_at": submitted, "status": status,
            "minutes_late": late}


def _vle_daily_row(v: dict[str, Any], ctx: ImportContext) -> dict[str, Any]:
    sec = _known_section(ctx, v)
    p = known_student(ctx, student_source_id(v["id_student"]), "id_student")
    return {"student_pseudonym": p, "section_sourced_id": sec, "date": day_to_date(v["code_presentation"], v["date"]),
            "activity_type": v["activity_type"].lower(), "events": v["sum_click"], "minutes": None}


def _vle_raw_row(v: dict[str, Any], ctx: ImportContext) -> dict[str, Any]:
    kind = ctx.cache["oulad_sites"].get(v["id_site"])
    require(kind is not None, f"unknown id_site {v['id_site']} (not in vle.csv)", "id_site")
    return _vle_daily_row({**v, "activity_type": kind}, ctx)


def _course_total_row(v: dict[str, Any], ctx: ImportContext) -> dict[str, Any]:
    sec = _known_section(ctx, v)
    return {"section_sourced_id": sec, "date": day_to_date(v["code_presentation"], v["date"]),
            "total_clicks": v["total_clicks"]}


def _outcomes(ctx: ImportContext) -> list[dict[str, Any]]:
    """studentInfo's final_result as the records' known outcome (the risk model's label): known at the
    presentation's end, or on the unregistration day for a withdrawal; demographics only for the fairness audit."""
    rows = store_oulad.final_results(ctx.db)
    lengths = ctx.cache["oulad_lengths"]
    out = []
    for r in rows:
        if r["s"] not in lengths:
            continue
        pres, length = lengths[r["s"]]
        end = (presentation_start(pres) + timedelta(days=length)).isoformat()
        outcome = {"Distinction": "pass", "Pass": "pass", "Fail": "fail", "Withdrawn": "withdrawn"}[r["r"]]
        day = r["end_date"] if outcome == "withdrawn" and r["end_date"] else end
        out.append({"student_pseudonym": r["p"], "term_sourced_id": r["s"], "outcome": outcome, "outcome_date": day,
                    "gender": r["gender"], "age_band": r["age_band"], "disability": r["disability"],
                    "deprivation": r["imd_band"]})
    return out


def _missing(ctx: ImportContext) -> list[dict[str, Any]]:
    """TMA/CMA cut-offs a registered student has no studentAssessment row for → ``missing`` submissions.

    Registered = registered by the cut-off day and not unregistered before it (a student who withdrew
    earlier has nothing missing after leaving). Exams are left out: several modules record no exam rows at
    all, and an exam is due on the day the outcome becomes known, so it never informs a forecast."""
    secs = sorted(ctx.cache["oulad_lengths"])
    if not secs:
        return []
    regs: dict[str, list[tuple[str, str | None, str | None]]] = {}
    for e in store_oulad.student_registrations(ctx.db, secs):
        regs.setdefault(e["s"], []).append((e["p"], e["b"], e["e"]))
    done = store_oulad.handed_in(ctx.db, secs)
    out = []
    for it in store_oulad.coursework_due(ctx.db, secs):
        day = it["due_at"][:10]
        for p, begin, end in regs.get(it["s"], []):
            if (it["sourced_id"], p) in done or (begin and begin > day) or (end and end < day):
                continue
            out.append({"line_item_sourced_id": it["sourced_id"], "student_pseudonym": p, "section_sourced_id": it["s"],
                        "due_at": it["due_at"], "submitted_at": None, "status": "missing", "minutes_late": None})
    return out


def import_oulad(ctx: ImportContext, folder: Path) -> None:
    """Import an OULAD folder (README in ../shared/data/oulad describes the layout)."""
    if not folder.is_dir():
        ctx.report.errors.append(f"{folder}: not a folder of OULAD CSV files")
        return
    missing = [t for t in REQUIRED_TABLES if not (folder / f"{t}.csv").exists()]
    if missing:
        ctx.report.errors.append(f"{folder}: missing OULAD file(s): {', '.join(t + '.csv' for t in missing)}")
        return
    ctx.cache.update(oulad_lengths={}, oulad_assessments={}, oulad_new_students=set(), oulad_sites={})
    import_csv(ctx, folder / "courses.csv", COURSE_FIELDS, SECTIONS, _course_row)
    lengths = ctx.cache["oulad_lengths"]
    write_derived(ctx, ORGS, [{"sourced_id": ORG_ID, "name": "Open University (OULAD)", "type": "district",
                               "identifier": "OULAD", "parent_sourced_id": None}], "(derived) orgs")
    sessions: dict[str, dict[str, Any]] = {}
    courses: dict[str, dict[str, Any]] = {}
    for sec, (pres, length) in lengths.items():
        start = presentation_start(pres)
        sessions[pres] = {"sourced_id": f"oulad-{pres}", "title": f"OULAD presentation {pres}", "type": "term",
                          "start_date": start.isoformat(),
                          "end_date": max(sessions.get(pres, {}).get("end_date", ""),
                                          (start + timedelta(days=length)).isoformat()),
                          "parent_sourced_id": None, "school_year": str(start.year)}
        module = sec.split("-")[1]
        courses[module] = {"sourced_id": f"oulad-{module}", "title": f"OULAD module {module}",
                           "course_code": module, "school_year_sourced_id": None, "org_sourced_id": ORG_ID,
                           "grades": None, "subjects": None}
    write_derived(ctx, ACADEMIC_SESSIONS, list(sessions.values()), "(derived) academic_sessions")
    write_derived(ctx, COURSES, list(courses.values()), "(derived) courses")
    import_csv(ctx, folder / "assessments.csv", ASSESSMENT_FIELDS, LINE_ITEMS, _assessment_row)
    import_csv(ctx, folder / "studentInfo.csv", INFO_FIELDS, OULAD_STUDENT_INFO, _info_row)
    write_derived(ctx, USERS, [
        {"sourced_id": s, "pseudonym": ctx.keys.pseudonym(s), "role": "student", "enabled": 1,
         "org_sourced_ids": ORG_ID, "grades": None, "agent_sourced_ids": None, "name_enc": None,
         "contact_enc": None, "opt_out": 0} for s in sorted(ctx.cache["oulad_new_students"])], "(derived) users")
    ctx.cache.pop("students", None)
    import_csv(ctx, folder / "studentRegistration.csv", REG_FIELDS, ENROLLMENTS, _reg_row)
    write_derived(ctx, STUDENT_OUTCOMES, _outcomes(ctx), "(derived) student_outcomes")
    sa = folder / "studentAssessment.csv"
    import_csv(ctx, sa, SA_FIELDS, RESULTS, _result_row, label="studentAssessment.csv → results")
    import_csv(ctx, sa, SA_FIELDS, SUBMISSIONS, _submission_row, label="studentAssessment.csv → submissions")
    write_derived(ctx, SUBMISSIONS, _missing(ctx), "(derived) missing submissions")
    daily = folder / "studentVle_daily.csv.gz"
    raw = folder / "studentVle.csv"
    if daily.exists():
        import_csv(ctx, daily, VLE_DAILY_FIELDS, LMS_ACTIVITY, _vle_daily_row, merge=merge_activity)
    elif raw.exists() and (folder / "vle.csv").exists():
        from .csvsafe import ParsedRow, open_csv

        for r in open_csv(folder / "vle.csv", VLE_FIELDS):
            if isinstance(r, ParsedRow):
                ctx.cache["oulad_sites"][r.values["id_site"]] = r.values["activity_type"].lower()
        import_csv(ctx, raw, VLE_RAW_FIELDS, LMS_ACTIVITY, _vle_raw_row, merge=merge_activity)
    else:
        ctx.report.warnings.append("no per-student clicks (studentVle_daily.csv.gz or studentVle.csv): "
                                   "lms_activity not filled from OULAD")
    totals = folder / "studentVle_course_daily_totals.csv"
    if totals.exists():
        import_csv(ctx, totals, COURSE_TOTAL_FIELDS, LMS_COURSE_DAILY, _course_total_row)
