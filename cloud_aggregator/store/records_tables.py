"""The academic-records tables and the ``Table`` declaration every store table uses (docs/records.md).

Identity lives in ``users`` only: ``sourced_id`` (the school's id), ``pseudonym`` (keyed HMAC of it)
and encrypted names/contacts. Analytics tables (attendance, submissions, lms_activity, results,
enrollments) carry the pseudonym only, so per-student features never see a name or a school id.
Dates are ISO 'YYYY-MM-DD' text and instants UTC 'YYYY-MM-DDTHH:MM:SSZ' text on both SQLite and
PostgreSQL, so the same queries and pandas code work on either.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]  # (name, TEXT|INTEGER|REAL)
    pk: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()

    @cached_property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.columns)


def _t(name: str, cols: str, pk: str, indexes: tuple[tuple[str, ...], ...] = ()) -> Table:
    parsed = []
    for part in cols.split(","):
        col, typ = part.split()
        parsed.append((col, typ.upper()))
    parsed.append(("row_hash", "TEXT"))
    parsed.append(("import_run", "TEXT"))
    return Table(name, tuple(parsed), tuple(pk.split(",")), indexes)


ORGS = _t("orgs", "sourced_id text, name text, type text, identifier text, parent_sourced_id text",
          "sourced_id")
ACADEMIC_SESSIONS = _t(
    "academic_sessions",
    "sourced_id text, title text, type text, start_date text, end_date text, parent_sourced_id text, "
    "school_year text", "sourced_id")
CATEGORIES = _t("categories", "sourced_id text, title text", "sourced_id")
COURSES = _t("courses", "sourced_id text, title text, course_code text, school_year_sourced_id text, "
             "org_sourced_id text, grades text, subjects text", "sourced_id")
SECTIONS = _t(
    "sections",
    "sourced_id text, title text, class_code text, course_sourced_id text, course_code text, "
    "class_type text, school_sourced_id text, term_sourced_ids text, grades text, subjects text, "
    "periods text, location text", "sourced_id", (("course_code",), ("school_sourced_id",)))
USERS = _t(
    "users",
    "sourced_id text, pseudonym text, role text, enabled integer, org_sourced_ids text, grades text, "
    "agent_sourced_ids text, name_enc text, contact_enc text, opt_out integer",
    "sourced_id", (("pseudonym",), ("role",)))
ENROLLMENTS = _t(
    "enrollments",
    "sourced_id text, section_sourced_id text, school_sourced_id text, user_pseudonym text, role text, "
    "is_primary integer, begin_date text, end_date text",
    "sourced_id", (("user_pseudonym",), ("section_sourced_id",)))
LINE_ITEMS = _t(
    "line_items",
    "sourced_id text, title text, description text, assign_date text, due_at text, section_sourced_id text, "
    "category text, grading_period_sourced_id text, result_value_min real, result_value_max real, weight real",
    "sourced_id", (("section_sourced_id",),))
RESULTS = _t(
    "results",
    "sourced_id text, line_item_sourced_id text, student_pseudonym text, score_status text, score real, "
    "score_date text, comment_enc text",
    "sourced_id", (("student_pseudonym",), ("line_item_sourced_id",)))
ATTENDANCE = _t(
    "attendance",
    "student_pseudonym text, section_sourced_id text, date text, period text, status text, minutes_late integer",
    "student_pseudonym,section_sourced_id,date,period", (("date",), ("section_sourced_id",)))
SUBMISSIONS = _t(
    "submissions",
    "line_item_sourced_id text, student_pseudonym text, section_sourced_id text, due_at text, "
    "submitted_at text, status text, minutes_late integer",
    "line_item_sourced_id,student_pseudonym", (("student_pseudonym",),))
LMS_ACTIVITY = _t(
    "lms_activity",
    "student_pseudonym text, section_sourced_id text, date text, activity_type text, events integer, "
    "minutes real",
    "student_pseudonym,section_sourced_id,date,activity_type", (("date",),))
ADVISOR_ASSIGNMENTS = _t(
    "advisor_assignments",
    "student_pseudonym text, staff_sourced_id text, role text, begin_date text, end_date text",
    "student_pseudonym,staff_sourced_id,role", (("staff_sourced_id",),))
# OULAD only: label + demographics (for fairness audits, never model features) and course clicks.
OULAD_STUDENT_INFO = _t(
    "oulad_student_info",
    "student_pseudonym text, section_sourced_id text, final_result text, num_of_prev_attempts integer, "
    "studied_credits integer, gender text, region text, highest_education text, imd_band text, "
    "age_band text, disability text",
    "student_pseudonym,section_sourced_id")
LMS_COURSE_DAILY = _t(
    "lms_course_daily",
    "section_sourced_id text, date text, total_clicks integer", "section_sourced_id,date")

# The institution's known outcome per student and term (the risk model's label). The group columns are for
# the fairness audit only and are never model features.
STUDENT_OUTCOMES = _t(
    "student_outcomes",
    "student_pseudonym text, term_sourced_id text, outcome text, outcome_date text, gender text, age_band text, "
    "disability text, deprivation text",
    "student_pseudonym,term_sourced_id", (("outcome_date",),))

TIMETABLE_SLOTS = _t(
    "timetable_slots",
    "site text, room text, device_id text, weekday integer, period text, start_time text, end_time text, "
    "section_sourced_id text, course_code text, teacher_sourced_id text, term_sourced_id text",
    "site,room,weekday,period,term_sourced_id", (("section_sourced_id",), ("device_id",)))

RECORD_TABLES: tuple[Table, ...] = (
    ORGS, ACADEMIC_SESSIONS, CATEGORIES, COURSES, SECTIONS, USERS, ENROLLMENTS, LINE_ITEMS, RESULTS,
    ATTENDANCE, SUBMISSIONS, LMS_ACTIVITY, ADVISOR_ASSIGNMENTS, OULAD_STUDENT_INFO, LMS_COURSE_DAILY,
    TIMETABLE_SLOTS, STUDENT_OUTCOMES,
)

# Bookkeeping: import runs, the dead-letter table of rejected rows (raw row encrypted: it may hold
# names), and the key fingerprint.
IMPORT_RUNS = Table("import_runs", (("run_id", "TEXT"), ("kind", "TEXT"), ("source", "TEXT"),
                                    ("started_at", "TEXT"), ("finished_at", "TEXT"), ("report_json", "TEXT")),
                    ("run_id",))
IMPORT_REJECTS = Table("import_rejects", (("run_id", "TEXT"), ("seq", "INTEGER"), ("file", "TEXT"),
                                          ("line", "INTEGER"), ("reason", "TEXT"), ("raw_enc", "TEXT")),
                       ("run_id", "seq"))
RECORDS_META = Table("records_meta", (("key", "TEXT"), ("value", "TEXT")), ("key",))

ALL_TABLES: tuple[Table, ...] = (*RECORD_TABLES, IMPORT_RUNS, IMPORT_REJECTS, RECORDS_META)
