"""Importers on the generated demo school (SQLite): accounting, rejects with reasons, idempotency, privacy."""

from __future__ import annotations

import codecs
import csv
import sqlite3
from pathlib import Path

import pytest
from _records_helpers import append_lines, csv_rows, keys, small_demo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud_aggregator.records import import_records
from cloud_aggregator.records.keys import RecordsKeyError, RecordsKeys, load_keys, write_key_file
from cloud_aggregator.records.report import ImportReport
from cloud_aggregator.records.submissions import derive_status
from cloud_aggregator.store.engine import RecordsDB


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    return small_demo(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def imported(demo, tmp_path_factory):
    db = tmp_path_factory.mktemp("db") / "records.db"
    first = import_records(db, demo, "all", keys=keys(), progress=False)
    second = import_records(db, demo, "all", keys=keys(), progress=False)
    return db, first, second


def _table_counts(db: Path) -> dict[str, int]:
    with RecordsDB.open(db) as rdb:
        return {t: rdb.count(t) for t in ("users", "sections", "enrollments", "line_items", "results",
                                          "attendance", "submissions", "lms_activity", "advisor_assignments")}


def test_every_row_accounted_and_clean_demo_imports_fully(demo, imported):
    _db, first, _ = imported
    assert first.ok, first.summary()
    first.check_balance()
    for name, sub in [("users.csv", "oneroster"), ("results.csv", "oneroster"), ("enrollments.csv", "oneroster"),
                      ("attendance.csv", "attendance"), ("submissions.csv", "submissions")]:
        assert first.files[name].rows == csv_rows(demo / sub / name)
        assert first.files[name].inserted == first.files[name].rows
    lms = first.files["lms_activity.csv"]
    assert lms.rows == csv_rows(demo / "lms" / "lms_activity.csv") == lms.inserted + lms.merged


def test_reimport_is_idempotent(imported):
    db, first, second = imported
    assert second.total("inserted") == 0 and second.total("updated") == 0
    assert second.total("unchanged") == first.total("inserted")
    counts = _table_counts(db)
    assert counts["attendance"] == first.files["attendance.csv"].inserted
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT COUNT(*) FROM import_runs").fetchone()[0] == 2


@pytest.mark.privacy
def test_names_encrypted_and_analytics_tables_pseudonymous(demo, imported):
    db, _, _ = imported
    raw = db.read_bytes()
    users = (demo / "oneroster" / "users.csv").read_text(encoding="utf-8").splitlines()[1:]
    for line in users[:40]:
        cells = line.split(",")
        given, family, email = cells[8], cells[9], cells[12]
        assert (family + given).encode() not in raw and (given + " " + family).encode() not in raw
        if len(given) >= 2:
            assert given.encode() not in raw
        assert email.encode() not in raw
    with sqlite3.connect(db) as c:
        for table, col in [("attendance", "student_pseudonym"), ("submissions", "student_pseudonym"),
                           ("lms_activity", "student_pseudonym"), ("results", "student_pseudonym"),
                           ("enrollments", "user_pseudonym")]:
            vals = [r[0] for r in c.execute(f"SELECT {col} FROM {table} LIMIT 200")]
            assert vals and all(v.startswith("p_") and len(v) == 26 for v in vals), table
        assert c.execute("SELECT COUNT(*) FROM attendance WHERE student_pseudonym LIKE 'stu-%'").fetchone()[0] == 0
        row = c.execute("SELECT sourced_id, name_enc, contact_enc FROM users WHERE sourced_id='stu-0001'").fetchone()
    name = keys().decrypt(row[1])
    src = next(line.split(",") for line in users if line.startswith("stu-0001,"))
    assert name["given"] == src[8] and name["family"] == src[9] and name["english"] == src[19]
    assert keys().decrypt(row[2])["email"] == src[12]


def test_opt_out_flag_imported(demo, imported):
    db, _, _ = imported
    truth = (demo / "_truth" / "students.csv").read_text().splitlines()[1:]
    opted = {line.split(",")[0] for line in truth if line.endswith(",1")}
    with sqlite3.connect(db) as c:
        got = {r[0] for r in c.execute("SELECT sourced_id FROM users WHERE opt_out=1")}
    assert got == opted and opted


def test_rejected_rows_reported_with_reasons_and_dead_lettered(demo, tmp_path):
    db = tmp_path / "r.db"
    assert import_records(db, demo / "oneroster", "oneroster", keys=keys(), progress=False).ok
    att = tmp_path / "att"
    att.mkdir()
    f = att / "attendance.csv"
    f.write_text((demo / "attendance" / "attendance.csv").read_text(encoding="utf-8").splitlines()[0] + "\n"
                 + "\n".join((demo / "attendance" / "attendance.csv").read_text(encoding="utf-8").splitlines()[1:6])
                 + "\n", encoding="utf-8")
    first = (demo / "attendance" / "attendance.csv").read_text(encoding="utf-8").splitlines()[1].split(",")
    sid, cls, day = first[0], first[1], first[2]
    append_lines(f, [
        f"stu-9999,{cls},{day},1,present,",        # line 7: unknown student
        f"{sid},{cls},{day},2,sleeping,",           # line 8: bad status
        f"{sid},{cls},2025-02-30,3,present,",       # line 9: bad date
        f"=1+2,{cls},{day},4,present,",             # line 10: formula in id
        f"{sid},cls-nowhere,{day},5,present,",      # line 11: unknown class
        f"{first[0]},{first[1]},{first[2]},{first[3]},absent,",  # line 12: duplicate of line 2
        f"{sid},{cls},{day},6,present,,extra",      # line 13: wrong field count
        f"{sid},{cls},{day},7,present,5",           # line 14: minutes late but present
        f"{sid},{cls},{day},6,uri://ed-fi.org/AttendanceEventCategoryDescriptor#Tardy,3",  # line 15: ok
    ])
    rep = import_records(db, att, "attendance", keys=keys(), progress=False)
    rep.check_balance()
    reasons = {r.line: r.reason for r in rep.rejected}
    assert set(reasons) == {7, 8, 9, 10, 11, 12, 13, 14}, rep.summary()
    assert "unknown student" in reasons[7]
    assert "unknown status 'sleeping'" in reasons[8]
    assert "not a date" in reasons[9]
    assert "formula injection" in reasons[10]
    assert "unknown class" in reasons[11]
    assert "duplicate of line 2" in reasons[12]
    assert "expected 6 fields" in reasons[13]
    assert "minutesLate" in reasons[14]
    assert rep.files["attendance.csv"].inserted == 6
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT status FROM attendance WHERE period='6'").fetchone()[0] == "tardy"
        dead = c.execute("SELECT line, reason, raw_enc FROM import_rejects WHERE run_id=?", (rep.run_id,)).fetchall()
    assert sorted(r[0] for r in dead) == sorted(reasons)
    assert "stu-9999" not in " ".join(str(r[2]) for r in dead)  # raw rows are encrypted
    assert keys().decrypt(dead[0][2])["raw"]
    out = rep.write_rejects_csv(tmp_path / "rejects.csv")
    text = out.read_text(encoding="utf-8-sig")
    assert "\n=" not in text and ",=" not in text  # formula cells neutralised in the rejects file
    # fixing a value updates exactly that row; the rest stays unchanged
    lines = f.read_text(encoding="utf-8").splitlines()
    lines[1] = ",".join([*lines[1].split(",")[:4], "excused", ""])
    f.write_text("\n".join(lines[:6]) + "\n", encoding="utf-8")
    again = import_records(db, att, "attendance", keys=keys(), progress=False)
    c2 = again.files["attendance.csv"]
    assert (c2.updated, c2.unchanged, c2.inserted, c2.rejected) == (1, 4, 0, 0)


def test_oneroster_delta_delete_and_reference_checks(demo, tmp_path):
    db = tmp_path / "d.db"
    import_records(db, demo / "oneroster", "oneroster", keys=keys(), progress=False)
    delta = tmp_path / "delta"
    delta.mkdir()
    hdr = (demo / "oneroster" / "results.csv").read_text(encoding="utf-8").splitlines()
    victim = hdr[1].split(",")
    victim[1] = "tobedeleted"
    bad_item = hdr[2].split(",")
    bad_item[0], bad_item[3] = "res-new", "li-missing"
    over = hdr[3].split(",")
    over[0], over[5], over[6] = "res-over", "fully graded", "180"
    (delta / "results.csv").write_text("\n".join([hdr[0], ",".join(victim), ",".join(bad_item), ",".join(over)])
                                       + "\n", encoding="utf-8")
    rep = import_records(db, delta, "oneroster", keys=keys(), progress=False)
    assert rep.files["results.csv"].deleted == 1
    reasons = [r.reason for r in rep.rejected]
    assert any("unknown line item 'li-missing'" in r for r in reasons)
    assert any("outside the line item's range" in r for r in reasons)
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT COUNT(*) FROM results WHERE sourced_id=?", (victim[0],)).fetchone()[0] == 0


def test_attendance_before_roster_is_rejected_not_lost(demo, tmp_path):
    rep = import_records(tmp_path / "e.db", demo / "attendance", "attendance", keys=keys(), progress=False)
    c = rep.files["attendance.csv"]
    assert c.rows > 0 and c.rejected == c.rows
    assert "import OneRoster users first" in rep.rejected[0].reason


def test_missing_folder_and_files_are_errors(tmp_path):
    rep = import_records(tmp_path / "f.db", tmp_path / "nope", "lms", keys=keys(), progress=False)
    assert rep.errors and not rep.ok
    (tmp_path / "empty").mkdir()
    rep = import_records(tmp_path / "f.db", tmp_path / "empty", "oneroster", keys=keys(), progress=False)
    assert "no OneRoster files" in rep.errors[0]


@pytest.mark.security
def test_wrong_key_refused_and_key_file_handling(demo, tmp_path):
    db = tmp_path / "k.db"
    import_records(db, demo / "oneroster", "oneroster", keys=keys(), progress=False)
    with pytest.raises(RecordsKeyError, match="different records key"):
        import_records(db, demo / "oneroster", "oneroster", keys=RecordsKeys(b"x" * 32), progress=False)
    kf = tmp_path / "records.key"
    k = write_key_file(kf)
    assert (kf.stat().st_mode & 0o777) == 0o600
    assert load_keys(environ={"CLASSPULSE_RECORDS_KEY_FILE": str(kf)}).fingerprint == k.fingerprint
    with pytest.raises(RecordsKeyError):
        write_key_file(kf)
    with pytest.raises(RecordsKeyError, match="no records key"):
        load_keys(environ={})
    from cloud_aggregator.records.keys import ensure_key_file

    assert ensure_key_file(kf).fingerprint == k.fingerprint  # existing key kept
    fresh = ensure_key_file(tmp_path / "sub" / "new.key")
    assert ensure_key_file(tmp_path / "sub" / "new.key").fingerprint == fresh.fingerprint


def test_submission_status_derivation_and_demo_statuses(imported):
    assert derive_status("2025-09-04T13:00:00Z", None, False) == ("missing", None)
    assert derive_status("2025-09-04T13:00:00Z", "2025-09-04T12:59:00Z", False) == ("on_time", 0)
    assert derive_status("2025-09-04T13:00:00Z", "2025-09-04T13:00:30Z", False) == ("late", 1)
    assert derive_status("2025-09-04T13:00:00Z", None, True) == ("excused", None)
    db, _, _ = imported
    with sqlite3.connect(db) as c:
        statuses = dict(c.execute("SELECT status, COUNT(*) FROM submissions GROUP BY status").fetchall())
    assert statuses.get("on_time", 0) > statuses.get("late", 0) > 0 and statuses.get("missing", 0) > 0


def test_report_roundtrip():
    rep = ImportReport("lms", "x")
    rep.counts("a.csv").rows = 2
    rep.counts("a.csv").inserted = 1
    rep.reject("a.csv", 3, "bad")
    rep.check_balance()
    assert '"line": 3' in rep.to_json() and "rejected a.csv:3: bad" in rep.summary()


@pytest.mark.privacy
def test_access_helpers_honour_opt_out_and_assignments(demo, imported):
    from cloud_aggregator.records.access import staff_names, student_names
    from cloud_aggregator.store.analysable import ANALYSABLE_STUDENTS
    from cloud_aggregator.store.records_access import advisees

    db, _, _ = imported
    with RecordsDB.open(db) as rdb:
        ok = {r["pseudonym"] for r in rdb.query(ANALYSABLE_STUDENTS)}
        out = {r["pseudonym"] for r in rdb.query("SELECT pseudonym FROM users WHERE role='student' AND opt_out=1")}
        mine = advisees(rdb, "cou-north")
    assert out and ok and not (out & ok)
    assert mine and mine <= (ok | out)
    one = sorted(mine)[0]
    names = student_names(db, keys(), [one])
    assert set(names) == {one} and names[one]["family"]
    assert staff_names(db, keys(), ["cou-north"])["cou-north"]["english"]
    assert staff_names(db, keys(), ["stu-0001"]) == {}  # students are not staff


def test_cli_module_end_to_end(demo, tmp_path, monkeypatch):
    from cloud_aggregator.records.api import main

    kf = tmp_path / "k"
    assert main(["keygen", str(kf)]) == 0
    monkeypatch.setenv("CLASSPULSE_RECORDS_KEY_FILE", str(kf))
    monkeypatch.delenv("CLASSPULSE_RECORDS_KEY", raising=False)
    assert main(["import", "oneroster", str(demo / "oneroster"), "--db", str(tmp_path / "c.db")]) == 0
    bad = tmp_path / "lms"
    bad.mkdir()
    (bad / "lms.csv").write_text("studentSourcedId,date,activityType,events\nstu-0001,2025-09-01,login,x\n")
    assert main(["import", "lms", str(bad), "--db", str(tmp_path / "c.db"), "--rejects",
                 str(tmp_path / "rej.csv")]) == 1
    assert "events: not a whole number" in (tmp_path / "rej.csv").read_text(encoding="utf-8-sig")
    assert main(["import", "lms", str(tmp_path / "none"), "--db", str(tmp_path / "c.db")]) == 2


@pytest.mark.security
def test_gbk_roster_imports_with_warning_and_right_names(demo, tmp_path):
    ros = tmp_path / "oneroster"
    ros.mkdir()
    for p in (demo / "oneroster").iterdir():
        data = p.read_text(encoding="utf-8")
        (ros / p.name).write_bytes(data.encode("gb18030") if p.name == "users.csv" else codecs.BOM_UTF8 + data.encode())
    rep = import_records(tmp_path / "g.db", ros, "oneroster", keys=keys(), progress=False)
    assert rep.ok and any("users.csv: not valid UTF-8" in w and "GBK" in w for w in rep.warnings)
    with sqlite3.connect(tmp_path / "g.db") as c:
        token = c.execute("SELECT name_enc FROM users WHERE sourced_id='stu-0001'").fetchone()[0]
    src = next(line.split(",") for line in (demo / "oneroster" / "users.csv").read_text(encoding="utf-8").splitlines()
               if line.startswith("stu-0001,"))
    assert keys().decrypt(token)["family"] == src[9]


_CELL = st.text(alphabet=st.sampled_from(list("stu-0123,\"=+@ \n\tabx王.:TZ#")), max_size=12)


@pytest.fixture(scope="module")
def roster_copy(imported, tmp_path_factory) -> Path:
    import shutil

    dst = tmp_path_factory.mktemp("fuzzdb") / "copy.db"
    shutil.copy(imported[0], dst)
    return dst


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(_CELL, min_size=0, max_size=8), max_size=12))
def test_fuzz_attendance_import_never_crashes_and_balances(roster_copy, tmp_path_factory, rows):
    db = roster_copy
    folder = tmp_path_factory.mktemp("fuzz")
    with (folder / "attendance.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["studentSourcedId", "classSourcedId", "date", "period", "status", "minutesLate"])
        w.writerows(rows)
    rep = import_records(db, folder, "attendance", keys=keys(), progress=False)
    rep.check_balance()
    assert not rep.errors
    c = rep.files["attendance.csv"]
    assert c.inserted + c.updated == 0 or c.rows > 0


def test_timetable_imported_and_devices_validated(demo, imported, tmp_path):
    from classpulse_contract.config_io import ConfigError
    from cloud_aggregator.records.timetable import load_devices

    db, first, second = imported
    tt = first.files["timetable.csv"]
    assert tt.rows == csv_rows(demo / "timetable.csv") == tt.inserted
    assert second.files["timetable.csv"].unchanged == tt.rows
    devices = load_devices(demo / "devices.yaml")
    index = devices.device_index()
    with sqlite3.connect(db) as c:
        used = {r[0] for r in c.execute("SELECT DISTINCT device_id FROM timetable_slots")}
    assert used <= set(index)
    bad = tmp_path / "devices.yaml"
    bad.write_text((demo / "devices.yaml").read_text(encoding="utf-8").replace("device_id:", "devcie_id:", 1),
                   encoding="utf-8")
    with pytest.raises(ConfigError, match="devcie_id: unknown key"):
        load_devices(bad)
    lines = (demo / "timetable.csv").read_text(encoding="utf-8").splitlines()
    row = lines[1].split(",")
    clash = list(row)
    clash[1] = "other-room"  # same teacher, same slot, another room
    late = list(row)
    late[4], late[5], late[6] = "9", "16:30", "16:10"
    folder = tmp_path / "tt"
    folder.mkdir()
    (folder / "timetable.csv").write_text("\n".join([lines[0], lines[1], lines[1], ",".join(clash), ",".join(late)])
                                          + "\n", encoding="utf-8")
    rep = import_records(db, folder, "timetable", keys=keys(), progress=False)
    reasons = {r.line: r.reason for r in rep.rejected}
    assert "duplicate of line 2" in reasons[3]
    assert "is already in" in reasons[4]
    assert "end is not after start" in reasons[5]


def test_store_connection_stays_open_after_import(demo, tmp_path):
    class StoreLike:  # the aggregator's Store exposes its RecordsDB through records_db()
        def __init__(self, db: RecordsDB):
            self.db = db

        def records_db(self) -> RecordsDB:
            return self.db

    rdb = RecordsDB(sqlite3.connect(tmp_path / "s.db"), "sqlite", owns=True)
    store = StoreLike(rdb)
    rep = import_records(store, demo / "oneroster", "oneroster", keys=keys(), progress=False)
    assert rep.ok
    assert rdb.count("users") == rep.files["users.csv"].inserted  # still usable: not closed by the import
    rdb.close()


def test_a_crash_mid_file_leaves_the_previous_state(tmp_path):
    from cloud_aggregator.records.csvcells import Field, Kind
    from cloud_aggregator.records.engine import BATCH, import_csv, new_context
    from cloud_aggregator.store.records_tables import CATEGORIES

    src = tmp_path / "cats.csv"
    src.write_text("id\n" + "".join(f"c{i}\n" for i in range(BATCH * 2 + 10)), encoding="utf-8")
    db = RecordsDB.open(tmp_path / "t.db")
    ctx = new_context(db, keys(), "test", str(src), progress=False)

    def explode_late(v, _ctx):
        if v["id"] == f"c{BATCH + 100}":
            raise RuntimeError("disk on fire")
        return {"sourced_id": v["id"], "title": "t"}

    with pytest.raises(RuntimeError):
        import_csv(ctx, src, (Field("id", Kind.ID, True),), CATEGORIES, explode_late)
    assert db.count("categories") == 0  # the first batch (already sent) was rolled back
    import_csv(ctx, src, (Field("id", Kind.ID, True),), CATEGORIES, lambda v, _c: {"sourced_id": v["id"], "title": "t"})
    assert db.count("categories") == BATCH * 2 + 10
    db.close()
