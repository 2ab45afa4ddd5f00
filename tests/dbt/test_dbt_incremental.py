"""Incremental facts (orders, stop-visits): a sequence of incremental runs equals a full refresh.

Three raw batches arrive one after another (new records, late corrections of old records,
a version loaded with a clock skewed back inside the lookback, a cancellation); one database
is built after each batch incrementally, another once with --full-refresh after all three,
each the whole project as a publish builds it (warehouse.transform.dbt_build), and each is
published: every published table is compared (tests/pipeline/published_digest.py).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from settings import REPO, Settings
from tests.dbt.test_dbt_metrics import create_raw_tables, insert_http, order
from tests.pipeline.published_digest import table_digests
from warehouse.publish import PUBLISHED_TABLES, publish
from warehouse.run_context import run_context
from warehouse.transform import PROVENANCE_MIGRATION, dbt_build

FACTS = ("stg_kechuang_orders__orders", "stg_scipop_platform__stop_visits")
AS_OF = "2020-10-01T23:59:59+08:00"  # every build is as of the same instant, after the last batch
# the orders model as dbt compiled it last: only its incremental (merge) path has this CTE
ORDERS_COMPILED = "target/compiled/plan_metrics/models/staging/kechuang_orders/stg_kechuang_orders__orders.sql"
MERGE_PATH = "touched as ("


def build(tmp: Path, db: Path, monkeypatch: pytest.MonkeyPatch, full_refresh: bool = False) -> None:
    """dbt build of the two facts, the seed their tests need, and only tests whose parents are all built."""
    from dbt.cli.main import dbtRunner

    monkeypatch.setenv("PLAN_METRICS_WORKING_DB", str(db))
    project = str(REPO / "dbt_project")
    args = ["build", "--project-dir", project, "--profiles-dir", project, "--target-path", str(tmp / "target"),
            "--log-path", str(tmp / "logs"), "--select", "hubei_divisions", *FACTS, "--indirect-selection", "cautious"]  # fmt: skip
    if full_refresh:
        args.append("--full-refresh")
    res = dbtRunner().invoke(args)
    assert res.success, res.exception or [(r.node.name, r.message) for r in res.result.results if r.status != "success"]


def working_db(data_dir: Path) -> Path:
    """A working database with the raw layer only, as the loaders create it."""
    db = data_dir / "warehouse" / "plan_metrics_work.duckdb"
    db.parent.mkdir(parents=True)
    with duckdb.connect(str(db)) as conn:
        create_raw_tables(conn)
    return db


def build_project(data_dir: Path, monkeypatch: pytest.MonkeyPatch, run: str, full_refresh: bool = False) -> dict:
    """The whole project built into `data_dir`'s working database as a publish builds it
    (state selection and all); the build's result, and the orders model as dbt compiled it."""
    ctx = run_context(run, datetime.now(UTC), AS_OF)
    built = dbt_build(Settings.from_env().with_data_dir(data_dir), ctx, full_refresh=full_refresh)
    return {**built, "publish_id": ctx.publish_id, "compiled_orders": (data_dir / "dbt" / ORDERS_COMPILED).read_text()}


def publish_build(data_dir: Path, built: dict) -> dict[str, str]:
    """Publish what was built into `data_dir/published`; the digest of every published table."""
    published = data_dir / "published" / "plan_metrics.duckdb"
    settings = Settings.from_env().with_data_dir(data_dir)
    publish(settings, built["publish_id"], 0, 0, built["invocation_id"], published_db=published)
    return table_digests(published)


def visit(stop: str, day: str, visitors: int, students: int, updated: str) -> dict:
    return {
        "stop_id": stop,
        "visit_date": day,
        "visitors": visitors,
        "student_visitors": students,
        "updated_at": updated,
    }


def stop(stop_id: str, county: str, start: str, end: str, updated: str) -> dict:
    return {
        "stop_id": stop_id,
        "host_county_code": county,
        "start_date": start,
        "end_date": end,
        "status": "open",
        "updated_at": updated,
    }


# (loaded at, orders, stop-visits, exhibition stops)
BATCHES = [
    (
        "2020-09-01 00:00:00+00",
        [
            order("o1", "420102", "small", "placed", "2020-08-01T10:00:00+08:00", "2020-08-01T10:00:00+08:00"),
            order("o2", "420103", "large", "placed", "2020-08-02T10:00:00+08:00", "2020-08-02T10:00:00+08:00"),
        ],
        [visit("s1", "2020-08-30", 10, 1, "2020-08-30T20:00:00+08:00"), visit("s1", "2020-08-31", 20, 2, "2020-08-31T20:00:00+08:00")],
        [stop("s1", "420102", "2020-08-25", "2020-10-05", "2020-08-25T08:00:00+08:00")],
    ),
    (
        "2020-10-01 00:00:00+00",
        [
            # o1 accepted and resolved; o3 new
            order("o1", "420102", "small", "resolved", "2020-08-01T10:00:00+08:00", "2020-09-20T10:00:00+08:00",
                  accepted="2020-08-02T10:00:00+08:00", resolved="2020-09-20T10:00:00+08:00", paid="10.00"),
            order("o3", "420102", "micro", "placed", "2020-09-25T10:00:00+08:00", "2020-09-25T10:00:00+08:00"),
        ],
        # a late correction of an August day, and a new day
        [visit("s1", "2020-08-30", 12, 1, "2020-09-30T09:00:00+08:00"), visit("s1", "2020-09-29", 5, 0, "2020-09-29T20:00:00+08:00")],
        [],
    ),
    (
        # loaded with a clock 6 h behind the previous load: inside the 48 h lookback
        "2020-09-30 18:00:00+00",
        [order("o2", "420103", "large", "cancelled", "2020-08-02T10:00:00+08:00", "2020-09-29T10:00:00+08:00")],
        [visit("s1", "2020-08-31", 21, 3, "2020-09-30T10:00:00+08:00")],
        [],
    ),
]  # fmt: skip


def load(db: Path, batches: list) -> None:
    with duckdb.connect(str(db)) as conn:
        for loaded_at, orders, visits, stops in batches:
            insert_http(conn, "kechuang_orders__orders", loaded_at, orders)
            insert_http(conn, "scipop_platform__stop_visits", loaded_at, visits)
            insert_http(conn, "scipop_platform__exhibition_stops", loaded_at, stops)


def snapshot(db: Path) -> dict[str, list]:
    with duckdb.connect(str(db)) as conn:  # as dbt opened it: one configuration per file and process
        return {
            fact: conn.execute(f"select * exclude (last_loaded_at) from staging.{fact} order by all").fetchall()
            for fact in FACTS
        }


def published_visitors(data_dir: Path) -> dict[str, float]:
    """The published county visitors of stop s1's county (420102), per month."""
    with duckdb.connect(str(data_dir / "published" / "plan_metrics.duckdb"), read_only=True) as conn:
        rows = conn.execute(
            "select strftime(period_month, '%Y-%m'), value from metrics.plan_metric_values "
            "where metric_id = 'mobile_museum_visitors' and region_code = '420102'"
        ).fetchall()
    return {month: float(value) for month, value in rows}


def test_a_sequence_of_incremental_builds_publishes_every_table_exactly_as_a_full_refresh(tmp_path, monkeypatch):
    # GIVEN the whole project built after each of three batches (incrementally after the
    # first), and the last build published
    incremental = tmp_path / "incremental"
    working_db(incremental)
    for i, batch in enumerate(BATCHES):
        load(incremental / "warehouse" / "plan_metrics_work.duckdb", [batch])
        built = build_project(incremental, monkeypatch, f"incremental-{i}")
        # the run really was incremental: dbt ran the merge path, not a rebuild
        assert (MERGE_PATH in built["compiled_orders"]) == (i > 0)
    incremental_tables = publish_build(incremental, built)
    # AND a database holding all three batches, built once with a full refresh, published
    full = tmp_path / "full"
    working_db(full)
    load(full / "warehouse" / "plan_metrics_work.duckdb", BATCHES)
    rebuilt = build_project(full, monkeypatch, "full-refresh", full_refresh=True)
    assert MERGE_PATH not in rebuilt["compiled_orders"]
    full_tables = publish_build(full, rebuilt)
    # THEN every published table holds the same rows (publish ids and times aside)
    assert set(incremental_tables) >= {*PUBLISHED_TABLES, "publish_log", "quarantine_summary"}
    differ = sorted(t for t in incremental_tables if full_tables.get(t) != incremental_tables[t])
    assert not differ and set(full_tables) == set(incremental_tables), f"tables that differ: {differ}"
    # AND so do the two incremental facts
    inc_rows, full_rows = (
        snapshot(incremental / "warehouse" / "plan_metrics_work.duckdb"),
        snapshot(full / "warehouse" / "plan_metrics_work.duckdb"),
    )
    assert inc_rows == full_rows
    # AND the late corrections won (not just equal: correct), up to the published metric
    visits = {(r[0], str(r[1])): r[2] for r in full_rows["stg_scipop_platform__stop_visits"]}
    assert visits == {("s1", "2020-08-30"): 12, ("s1", "2020-08-31"): 21, ("s1", "2020-09-29"): 5}
    statuses = {r[0]: r[8] for r in full_rows["stg_kechuang_orders__orders"]}
    assert statuses == {"o1": "resolved", "o2": "cancelled", "o3": "placed"}
    assert published_visitors(incremental) == published_visitors(full) == {"2020-08": 12 + 21, "2020-09": 5}


def test_a_working_database_built_before_the_staging_provenance_is_rebuilt_once_not_refused(tmp_path, monkeypatch):
    # GIVEN a working database whose incremental staging tables a build before the value lineage
    # made: without source_manifest_id, and the migration not recorded
    data = tmp_path / "old"
    db = working_db(data)
    load(db, BATCHES[:1])
    build_project(data, monkeypatch, "before-issue-26")
    with duckdb.connect(str(db)) as conn:
        for table in FACTS:
            conn.execute(f"alter table staging.{table} drop column source_manifest_id")
        conn.execute("delete from meta.migrations where name = ?", [PROVENANCE_MIGRATION])
    # WHEN the next batch is built (incrementally, as the hourly DAG would)
    load(db, BATCHES[1:2])
    build_project(data, monkeypatch, "after-issue-26")
    # THEN the build went through (dbt's on_schema_change='fail' would have refused the new column):
    # the stale tables were dropped once and built afresh, with the column, from the raw layer
    with duckdb.connect(str(db)) as conn:
        (detail,) = conn.execute("select detail from meta.migrations where name = ?", [PROVENANCE_MIGRATION]).fetchone()
        columns = conn.execute(
            "select table_name from duckdb_columns() where schema_name = 'staging' and column_name = 'source_manifest_id' "
            "and list_contains(?, table_name)",
            [list(FACTS)],
        ).fetchall()
        orders = conn.execute("select count(*) from staging.stg_kechuang_orders__orders").fetchone()[0]
    assert sorted(json.loads(detail)["dropped"]) == sorted(FACTS)
    assert len(columns) == len(FACTS)
    assert orders == 3  # o1, o2 of the first batch and o3 of the second: everything the raw layer holds


@pytest.mark.parametrize(
    "skew_hours, caught",
    [pytest.param(6, True, id="inside-lookback"), pytest.param(72, False, id="beyond-lookback")],
)
def test_lookback_catches_versions_loaded_with_a_skewed_clock(tmp_path, monkeypatch, skew_hours, caught):
    # GIVEN an incremental build holding day 08-30 (loaded 2020-09-20) and day 08-31 (loaded 2020-10-01)
    db = tmp_path / "work.duckdb"
    with duckdb.connect(str(db)) as conn:
        create_raw_tables(conn)
    load(db, [("2020-09-20 00:00:00+00", [], [visit("s1", "2020-08-30", 10, 1, "2020-08-30T20:00:00+08:00")], [])])
    load(db, [("2020-10-01 00:00:00+00", [], [visit("s1", "2020-08-31", 20, 1, "2020-08-31T20:00:00+08:00")], [])])
    build(tmp_path, db, monkeypatch)
    # WHEN a newer version of day 08-30 arrives stamped `skew_hours` before the newest load, and
    # dbt runs incrementally
    stamp = f"2020-10-01 00:00:00+00'::timestamptz - interval {skew_hours} hour"
    with duckdb.connect(str(db)) as conn:
        conn.execute(
            "insert into raw.scipop_platform__stop_visits (stop_id, visit_date, visitors, student_visitors, "
            f"updated_at, _seq, _landed_at, _loaded_at) values ('s1', '2020-08-30', 99, 1, "
            f"'2020-09-30T09:00:00+08:00', 1, '{stamp}, '{stamp})"
        )
    build(tmp_path, db, monkeypatch)
    # THEN inside the lookback it is caught; beyond it, only a full refresh would (documented limit)
    with duckdb.connect(str(db)) as conn:
        got = conn.execute(
            "select visitors from staging.stg_scipop_platform__stop_visits where visit_date = '2020-08-30'"
        ).fetchall()
    assert got == ([(99,)] if caught else [(10,)])
