"""The same imports on a real PostgreSQL (throwaway database per run)."""

from __future__ import annotations

import pytest
from _records_helpers import keys, pg_available, pg_database, small_demo

from cloud_aggregator.records import import_records
from cloud_aggregator.store.engine import RecordsDB

pytestmark = pytest.mark.skipif(not pg_available(), reason="PostgreSQL on 127.0.0.1:5432 not reachable")


def test_demo_school_on_postgres_idempotent_and_rejects(tmp_path):
    demo = small_demo(tmp_path / "demo", seed=5, students=24, weeks=2)
    with (demo / "lms" / "lms_activity.csv").open("a", encoding="utf-8") as fh:
        fh.write("stu-0001,,2025-09-02,login,-4,\n")  # negative count → rejected
    with pg_database() as dsn:
        first = import_records(dsn, demo, "all", keys=keys(), progress=False)
        assert not first.errors
        assert [r.reason for r in first.rejected] == ["events: -4 is below the minimum 0"]
        second = import_records(dsn, demo, "all", keys=keys(), progress=False)
        assert second.total("inserted") == 0 and second.total("updated") == 0
        assert second.total("unchanged") == first.total("inserted")
        with RecordsDB.open(dsn) as db:
            assert db.dialect == "postgres"
            assert db.count("attendance") == first.files["attendance.csv"].inserted
            row = db.query("SELECT name_enc FROM users WHERE sourced_id=?", ("stu-0001",))[0]
            assert keys().decrypt(row["name_enc"])["family"]
            assert db.count("import_rejects") == 2  # one per run, dead-lettered
