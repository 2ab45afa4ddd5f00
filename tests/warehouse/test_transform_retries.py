"""Retry what is transient, fail fast on what is not: a dbt build that cannot open the working
database (another process holds DuckDB's lock) raises DbtTransientError, which the transform
DAG lets Airflow retry; a failing test raises DbtBuildFailed, which it fails at once."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from settings import Settings
from tests.dbt.test_dbt_metrics import create_raw_tables
from tests.warehouse.child_lines import ChildLines
from warehouse.run_context import run_context
from warehouse.transform import DbtBuildFailed, DbtTransientError, dbt_build

HOLD = "import sys, time, duckdb; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(120)"


def working_db(tmp_path) -> tuple[Settings, Path]:
    settings = Settings.from_env().with_data_dir(tmp_path)
    settings.working_db.parent.mkdir(parents=True)
    return settings, settings.working_db


def test_a_locked_working_database_is_a_transient_error_and_the_retry_succeeds(tmp_path):
    settings, db = working_db(tmp_path)
    with duckdb.connect(str(db)) as conn:
        create_raw_tables(conn)
    ctx = run_context("retry", datetime.now(UTC), "2021-06-30T23:59:59+08:00")
    # GIVEN another process holding the working database (DuckDB: one writing process per file)
    with ChildLines([sys.executable, "-c", HOLD, str(db)], "the process holding the database") as holder:
        assert holder.next(timeout=60) == "held"
        # WHEN dbt builds THEN the error is transient (retry), not a failed build
        with pytest.raises(DbtTransientError, match="lock"):
            dbt_build(settings, ctx)
    # WHEN the holder is gone (killed and reaped: the kernel released its lock) THEN the retry builds
    assert holder.proc.returncode is not None
    result = dbt_build(settings, ctx)
    assert result["nodes"]


def test_a_failing_dbt_test_is_a_failed_build_not_a_retry(tmp_path):
    # GIVEN a raw registry with the same centre twice in one version (the staging key test fails)
    settings, db = working_db(tmp_path)
    with duckdb.connect(str(db)) as conn:
        create_raw_tables(conn)
        for _ in range(2):
            conn.execute(
                "insert into raw.scipop_platform__rural_centres (centre_id, county_code, opened_on, status, updated_at,"
                " _landed_at, _seq) values ('c1', '420102', '2020-01-01', 'active', '2020-07-01T00:00:00+08:00', "
                "'2020-07-02', 1)"
            )
        conn.execute(
            "insert into raw.rural_centre_reports__reports (centre_id, county_code, report_month, _file_path, "
            "_file_mtime, _row_number) values ('c1', '420102', '2020-08-01', 'a.csv', '2020-09-01', 2), "
            "('c1', '420102', '2020-08-01', 'a.csv', '2020-09-01', 2)"
        )
    ctx = run_context("fail", datetime.now(UTC), "2021-06-30T23:59:59+08:00")
    with pytest.raises(DbtBuildFailed):
        dbt_build(settings, ctx, select="+int_rural_centre_reports_checked")
