"""The whole pipeline through Airflow (`make pipeline` = `airflow dags test` of every DAG) on a
small seeded world of all five sources, checked row by row against the simulator's
independent truth (every metric, every region level, every month)."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys

import duckdb
import pytest

from simulator import truth
from simulator.process import SimulatorProcess
from simulator.world import WorldConfig, parse_ts
from tests.conftest import Pipeline, assert_matches_truth

pytestmark = [pytest.mark.airflow, pytest.mark.timeout(900)]

SEED, SCALE = 11, 0.1
CLOCK_1 = "2021-06-30T23:59:59+08:00"
CLOCK_2 = "2021-12-31T23:59:59+08:00"


def expected(clock: str) -> dict:
    return truth.metric_values(WorldConfig(SEED, SCALE), parse_ts(clock), sources=truth.ALL_SOURCES)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    base = tmp_path_factory.mktemp("e2e")
    # the drop folder the simulator writes S4/S5 files into is the pipeline's incoming folder
    with SimulatorProcess(
        base / "sim", seed=SEED, scale=SCALE, clock=CLOCK_1, incoming=base / "data" / "incoming"
    ) as sim:
        yield Pipeline(base / "data", sim)


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_first_run_publishes_every_value_equal_to_the_truth(pipeline):
    result = pipeline.run()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Published database:" in result.stdout
    assert_matches_truth(pipeline.published_values(), expected(CLOCK_1))


def test_a_second_run_with_no_source_changes_publishes_the_same_rows(pipeline):
    before = pipeline.published_values()
    result = pipeline.run()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    after = pipeline.published_values()
    strip = lambda rows: {k: v[:3] for k, v in rows.items()}  # noqa: E731 (publish_id aside)
    assert strip(after) == strip(before)
    assert {v[3] for v in after.values()} != {v[3] for v in before.values()}, "a new publish_id was expected"
    with duckdb.connect(str(pipeline.published_db), read_only=True) as conn:
        assert conn.execute("select count(*) from metrics.publish_log").fetchone()[0] == 2
        # every publish names the dbt invocation that built it
        assert (
            conn.execute("select count(*) from metrics.publish_log where dbt_invocation_id is null").fetchone()[0] == 0
        )


def test_after_the_source_changes_the_next_run_publishes_the_new_truth(pipeline):
    pipeline.sim.set_clock(CLOCK_2)
    result = pipeline.run()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert_matches_truth(pipeline.published_values(), expected(CLOCK_2))


def test_a_full_refresh_rebuilds_exactly_what_the_incremental_runs_built(pipeline):
    # GIVEN marts built by three incremental runs (two clocks) WHEN dbt rebuilds everything
    # from the raw layer with --full-refresh (in its own process, as the DAG task would)
    code = (
        "from datetime import UTC, datetime; from warehouse import paths; "
        "from warehouse.run_context import run_context; from warehouse.transform import dbt_build; "
        f"dbt_build(paths.working_db(), run_context('full-refresh', datetime.now(UTC), '{CLOCK_2}'), full_refresh=True)"
    )
    result = subprocess.run([sys.executable, "-c", code], env=pipeline.env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    with duckdb.connect(str(pipeline.working_db), read_only=True) as conn:
        rows = conn.execute(
            "select metric_id, region_code, strftime(period_month, '%Y-%m-%d'), region_level, value, unit, publish_id "
            "from metrics.plan_metric_values"
        ).fetchall()
    rebuilt = {(m, r, p): (lvl, v, u, pid) for m, r, p, lvl, v, u, pid in rows}
    # THEN the tables are the ones the incremental runs published, row for row
    strip = lambda rows: {k: v[:3] for k, v in rows.items()}  # noqa: E731 (publish_id aside)
    assert strip(rebuilt) == strip(pipeline.published_values())
    assert_matches_truth(rebuilt, expected(CLOCK_2))


def test_a_failing_expectation_blocks_the_publish_and_leaves_the_published_file_untouched(pipeline):
    # GIVEN a published file, and a raw order version that makes a published amount negative
    # (dbt's tests pass it: only the Great Expectations gate can stop it)
    before = sha256(pipeline.published_db)
    with duckdb.connect(str(pipeline.working_db)) as conn:
        conn.execute(
            """insert into raw.kechuang_orders__orders
               select * replace ('-99999999.00' as tech_transaction_cny, '2021-12-31T23:59:59+08:00' as updated_at,
                                 'planted-defect' as _record_hash, now() as _landed_at)
               from raw.kechuang_orders__orders where status = 'closed' limit 1"""
        )
    # WHEN the transform DAG runs through Airflow
    result = pipeline.dag_test("transform_publish")
    # THEN it fails at the gate, names the check, the table and the bad value
    log = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Quality gate failed" in log
    assert "metrics.plan_metric_values" in log and "expect_column_values_to_be_between" in log
    assert re.search(r"failing values \(sample\): \[[^\n]*-\d", log), "the message shows the negative values"
    # AND the published file is byte for byte what it was
    assert sha256(pipeline.published_db) == before
    # AND the quality ledger recorded the failure
    with duckdb.connect(str(pipeline.working_db), read_only=True) as conn:
        failed = conn.execute(
            "select count(*) from meta.quality_checks where not success and severity = 'block'"
        ).fetchone()[0]
        conn.close()
    assert failed >= 1
    # WHEN the bad version is gone THEN the next run publishes again
    with duckdb.connect(str(pipeline.working_db)) as conn:
        conn.execute("delete from raw.kechuang_orders__orders where _record_hash = 'planted-defect'")
    result = pipeline.dag_test("transform_publish")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert sha256(pipeline.published_db) != before
    assert_matches_truth(pipeline.published_values(), expected(CLOCK_2))
