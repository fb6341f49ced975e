"""OULAD: pandas loaders and the row-validated importer (validation data for the records tables)."""

from __future__ import annotations

import csv
import gzip
import sqlite3
from pathlib import Path

import pytest
from _records_helpers import keys

from cloud_aggregator.records import import_records
from cloud_aggregator.records.oulad import day_to_date, load_oulad_tables, presentation_start

TABLES = ("courses", "assessments", "vle", "studentInfo", "studentRegistration", "studentAssessment",
          "studentVle_course_daily_totals")


def _subset(src: Path, dst: Path, module: str = "AAA", pres: str = "2013J") -> Path:
    """Copy one module presentation of the real data (keeps the test fast)."""
    dst.mkdir()
    ids: set[str] = set()
    for name in TABLES:
        with (src / f"{name}.csv").open(encoding="utf-8") as fh, (dst / f"{name}.csv").open("w", encoding="utf-8",
                                                                                          newline="") as out:
            r, w = csv.DictReader(fh), None
            for row in r:
                if w is None:
                    w = csv.DictWriter(out, r.fieldnames, lineterminator="\n")
                    w.writeheader()
                if "code_module" in row and (row["code_module"], row["code_presentation"]) != (module, pres):
                    continue
                if name == "assessments":
                    ids.add(row["id_assessment"])
                if name == "studentAssessment" and row["id_assessment"] not in ids:
                    continue
                w.writerow(row)
    return dst


def test_presentation_dates():
    assert presentation_start("2013J").isoformat() == "2013-10-01"
    assert presentation_start("2014B").isoformat() == "2014-02-01"
    assert day_to_date("2013J", -10) == "2013-09-21"
    with pytest.raises(ValueError):
        presentation_start("2013X")


def test_pandas_loaders_on_shared_data(shared_data):
    t = load_oulad_tables(shared_data / "oulad")
    assert {"courses", "assessments", "studentInfo", "studentRegistration", "studentAssessment"} <= set(t)
    assert len(t["studentInfo"]) == 21333 and len(t["studentAssessment"]) == 121738
    assert str(t["studentAssessment"]["score"].dtype) == "Float64"
    assert str(t["studentRegistration"]["date_unregistration"].dtype) == "Int64"
    assert "10-20" not in set(t["studentInfo"]["imd_band"].dropna())
    assert t["studentInfo"]["final_result"].value_counts()["Pass"] == 8068


def test_import_one_presentation_is_clean_and_idempotent(shared_data, tmp_path):
    sub = _subset(shared_data / "oulad", tmp_path / "aaa")
    db = tmp_path / "o.db"
    rep = import_records(db, sub, "oulad", keys=keys(), progress=False)
    assert rep.ok, rep.summary()
    again = import_records(db, sub, "oulad", keys=keys(), progress=False)
    assert again.total("inserted") == 0 and again.total("updated") == 0
    n_info = sum(1 for _ in (sub / "studentInfo.csv").open()) - 1
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT COUNT(*) FROM oulad_student_info").fetchone()[0] == n_info
        assert c.execute("SELECT COUNT(*) FROM sections").fetchone()[0] == 1
        statuses = dict(c.execute("SELECT status, COUNT(*) FROM submissions GROUP BY status").fetchall())
        assert statuses["on_time"] > statuses.get("late", 0) > 0
        assert c.execute("SELECT MIN(due_at) FROM line_items").fetchone()[0].startswith("2013-10-20")
        # final_result → the records' known outcome (risk model label), demographics kept for the fairness audit
        outs = dict(c.execute("SELECT outcome, COUNT(*) FROM student_outcomes GROUP BY outcome").fetchall())
        assert sum(outs.values()) == n_info and set(outs) == {"pass", "fail", "withdrawn"}
        assert c.execute("SELECT COUNT(*) FROM student_outcomes WHERE outcome <> 'withdrawn' AND outcome_date <> "
                         "'2014-06-26'").fetchone()[0] == 0  # 2013J starts 2013-10-01, AAA runs 268 days
        assert c.execute("SELECT COUNT(DISTINCT gender) FROM student_outcomes").fetchone()[0] == 2


def _write(path: Path, rows: list[str]) -> None:
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def test_bad_oulad_rows_rejected_with_reasons_and_clicks_merged(tmp_path):
    d = tmp_path / "mini"
    d.mkdir()
    _write(d / "courses.csv", ["code_module,code_presentation,module_presentation_length", "AAA,2013J,268",
                               "BBB,2013X,200"])
    _write(d / "assessments.csv", ["code_module,code_presentation,id_assessment,assessment_type,date,weight",
                                   "AAA,2013J,1,TMA,19,10.0", "AAA,2013J,2,Exam,,100", "CCC,2013J,3,TMA,5,10"])
    _write(d / "studentInfo.csv", [
        "code_module,code_presentation,id_student,gender,region,highest_education,imd_band,age_band,"
        "num_of_prev_attempts,studied_credits,disability,final_result",
        "AAA,2013J,11,M,Scotland,HE Qualification,10-20,0-35,0,60,N,Pass",
        "AAA,2013J,12,F,Wales,A Level or Equivalent,,35-55,0,60,N,Withdrawn",
        "AAA,2013J,13,F,Wales,A Level,,35-55,0,60,N,Maybe"])
    _write(d / "studentRegistration.csv", ["code_module,code_presentation,id_student,date_registration,"
                                           "date_unregistration", "AAA,2013J,11,-20,", "AAA,2013J,12,-5,-30",
                                           "AAA,2013J,99,-5,"])
    _write(d / "studentAssessment.csv", ["id_assessment,id_student,date_submitted,is_banked,score",
                                         "1,11,18,0,78", "1,12,25,0,", "2,11,270,0,101", "7,11,3,0,50",
                                         "2,12,260,1,40"])
    with gzip.open(d / "studentVle_daily.csv.gz", "wt", encoding="utf-8") as fh:
        fh.write("code_module,code_presentation,id_student,date,activity_type,sum_click\n"
                 "AAA,2013J,11,0,resource,3\nAAA,2013J,11,0,resource,4\nAAA,2013J,11,1,quiz,2\n"
                 "AAA,2013J,12,1,quiz,-1\n")
    rep = import_records(tmp_path / "m.db", d, "oulad", keys=keys(), progress=False)
    rep.check_balance()
    got = {(r.file, r.line): r.reason for r in rep.rejected}
    assert "not an OULAD presentation code" in got[("courses.csv", 3)]
    assert "CCC 2013J is not in courses.csv" in got[("assessments.csv", 4)]
    assert "'Maybe' is not one of" in got[("studentInfo.csv", 4)]
    assert "before date_registration" in got[("studentRegistration.csv", 3)]
    assert "unknown student" in got[("studentRegistration.csv", 4)]
    assert "above the maximum 100" in got[("studentAssessment.csv → results", 4)]
    assert "unknown assessment 7" in got[("studentAssessment.csv → submissions", 5)]
    assert "below the minimum 0" in got[("studentVle_daily.csv.gz", 5)]
    vle = rep.files["studentVle_daily.csv.gz"]
    assert (vle.rows, vle.inserted, vle.merged, vle.rejected) == (4, 2, 1, 1)
    with sqlite3.connect(tmp_path / "m.db") as c:
        assert c.execute("SELECT events FROM lms_activity WHERE activity_type='resource'").fetchone()[0] == 7
        assert c.execute("SELECT due_at FROM line_items WHERE sourced_id='oulad-a-2'").fetchone()[0] == \
            "2014-06-26T23:59:59Z"  # missing exam date → end of the presentation (day 268)
        banked = c.execute("SELECT status FROM submissions WHERE line_item_sourced_id='oulad-a-2' "
                           "AND status='excused'").fetchall()
        assert len(banked) == 1
        assert c.execute("SELECT imd_band FROM oulad_student_info WHERE final_result='Pass'").fetchone()[0] == "10-20%"


@pytest.mark.slow
def test_full_shared_oulad_imports_without_rejects(shared_data, tmp_path):
    rep = import_records(tmp_path / "full.db", shared_data / "oulad", "oulad", keys=keys(), progress=False)
    assert not rep.errors and not rep.rejected, rep.summary()
    assert rep.files["studentAssessment.csv → results"].inserted == 121738
    with sqlite3.connect(tmp_path / "full.db") as c:
        counts = dict(c.execute("SELECT final_result, COUNT(*) FROM oulad_student_info GROUP BY 1").fetchall())
    assert counts == {"Pass": 8068, "Withdrawn": 6330, "Fail": 5075, "Distinction": 1860}
