"""Incremental facts (orders, stop-visits): a sequence of incremental runs equals a full refresh.

Three raw batches arrive one after another (new records, late corrections of old records,
a version loaded with a clock skewed back inside the lookback, a cancellation); one database
is built after each batch incrementally, another once with --full-refresh after all three.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.dbt.test_dbt_metrics import create_raw_tables, insert_http, order
from warehouse import paths

FACTS = ("stg_kechuang_orders__orders", "stg_scipop_platform__stop_visits")


def build(tmp: Path, db: Path, monkeypatch: pytest.MonkeyPatch, full_refresh: bool = False) -> None:
    """dbt build of the two facts, the seed their tests need, and only tests whose parents are all built."""
    from dbt.cli.main import dbtRunner

    monkeypatch.setenv("PLAN_METRICS_WORKING_DB", str(db))
    project = str(paths.dbt_project_dir())
    args = ["build", "--project-dir", project, "--profiles-dir", project, "--target-path", str(tmp / "target"),
            "--log-path", str(tmp / "logs"), "--select", "hubei_divisions", *FACTS, "--indirect-selection", "cautious"]  # fmt: skip
    if full_refresh:
        args.append("--full-refresh")
    res = dbtRunner().invoke(args)
    assert res.success, res.exception or [(r.node.name, r.message) for r in res.result.results if r.status != "success"]


def visit(stop: str, day: str, visitors: int, students: int, updated: str) -> dict:
    return {
        "stop_id": stop,
        "visit_date": day,
        "visitors": visitors,
        "student_visitors": students,
        "updated_at": updated,
    }


BATCHES = [
    (
        "2020-09-01 00:00:00+00",
        [
            order("o1", "420102", "small", "placed", "2020-08-01T10:00:00+08:00", "2020-08-01T10:00:00+08:00"),
            order("o2", "420103", "large", "placed", "2020-08-02T10:00:00+08:00", "2020-08-02T10:00:00+08:00"),
        ],
        [visit("s1", "2020-08-30", 10, 1, "2020-08-30T20:00:00+08:00"), visit("s1", "2020-08-31", 20, 2, "2020-08-31T20:00:00+08:00")],
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
    ),
    (
        # loaded with a clock 6 h behind the previous load: inside the 48 h lookback
        "2020-09-30 18:00:00+00",
        [order("o2", "420103", "large", "cancelled", "2020-08-02T10:00:00+08:00", "2020-09-29T10:00:00+08:00")],
        [visit("s1", "2020-08-31", 21, 3, "2020-09-30T10:00:00+08:00")],
    ),
]  # fmt: skip


def load(db: Path, batches: list) -> None:
    with duckdb.connect(str(db)) as conn:
        for loaded_at, orders, visits in batches:
            insert_http(conn, "kechuang_orders__orders", loaded_at, orders)
            insert_http(conn, "scipop_platform__stop_visits", loaded_at, visits)


def snapshot(db: Path) -> dict[str, list]:
    with duckdb.connect(str(db)) as conn:
        return {
            fact: conn.execute(f"select * exclude (last_loaded_at) from staging.{fact} order by all").fetchall()
            for fact in FACTS
        }


def test_sequence_of_incremental_runs_equals_full_refresh(tmp_path, monkeypatch):
    # GIVEN a database built after each of three batches (incrementally after the first)
    incremental = tmp_path / "incremental.duckdb"
    with duckdb.connect(str(incremental)) as conn:
        create_raw_tables(conn)
    for i, batch in enumerate(BATCHES):
        load(incremental, [batch])
        build(tmp_path / "inc", incremental, monkeypatch)
        if i > 0:
            # the run really was incremental: dbt ran the merge path, not a rebuild
            compiled = tmp_path / "inc/target/compiled/plan_metrics/models/staging/kechuang_orders"
            assert "touched as (" in (compiled / "stg_kechuang_orders__orders.sql").read_text()
    # AND a database holding all three batches, built once with a full refresh
    full = tmp_path / "full.duckdb"
    with duckdb.connect(str(full)) as conn:
        create_raw_tables(conn)
    load(full, BATCHES)
    build(tmp_path / "full", full, monkeypatch, full_refresh=True)
    # THEN both hold exactly the same rows
    inc_rows, full_rows = snapshot(incremental), snapshot(full)
    assert inc_rows == full_rows
    # AND the late corrections won (not just equal: correct)
    visits = {(r[0], str(r[1])): r[2] for r in full_rows["stg_scipop_platform__stop_visits"]}
    assert visits == {("s1", "2020-08-30"): 12, ("s1", "2020-08-31"): 21, ("s1", "2020-09-29"): 5}
    statuses = {r[0]: r[8] for r in full_rows["stg_kechuang_orders__orders"]}
    assert statuses == {"o1": "resolved", "o2": "cancelled", "o3": "placed"}


@pytest.mark.parametrize(
    "skew_hours, caught",
    [pytest.param(6, True, id="inside-lookback"), pytest.param(72, False, id="beyond-lookback")],
)
def test_lookback_catches_versions_loaded_with_a_skewed_clock(tmp_path, monkeypatch, skew_hours, caught):
    # GIVEN an incremental build holding day 08-30 (loaded 2020-09-20) and day 08-31 (loaded 2020-10-01)
    db = tmp_path / "work.duckdb"
    with duckdb.connect(str(db)) as conn:
        create_raw_tables(conn)
    load(db, [("2020-09-20 00:00:00+00", [], [visit("s1", "2020-08-30", 10, 1, "2020-08-30T20:00:00+08:00")])])
    load(db, [("2020-10-01 00:00:00+00", [], [visit("s1", "2020-08-31", 20, 1, "2020-08-31T20:00:00+08:00")])])
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
