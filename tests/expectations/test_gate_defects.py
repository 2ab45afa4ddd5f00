"""The quality gate on a small working database built in SQL: a clean one passes, each kind of
planted defect blocks with a message that names it, and stale or thin sources only warn.

The working database is crafted here (reference seeds from the dbt project, a few raw orders,
extract-run history, and metrics.* rows that obey the contract), so these tests need neither
Airflow nor the simulator; tests/pipeline/test_pipeline_end_to_end.py covers the gate through Airflow.
Keys, not-null columns and codes outside the reference are dbt's tests on the models, not
the gate's (expectations/published.py says why), so they are not planted here.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from expectations.gate import GateFailed, run_gate
from extract.sources import ORDERS
from settings import Settings
from warehouse.publish import publish
from warehouse.raw_load import ensure_tables
from warehouse.run_context import run_context

SEEDS = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds"
BEIJING = timezone(timedelta(hours=8))
AS_OF = datetime(2021, 3, 31, 23, 59, 59, tzinfo=BEIJING)  # end of the run's data interval
PREFECTURES = {"420100": ["420102", "420103"], "420500": ["420502", "420503"]}
MONTHS = ["2021-01-01", "2021-02-01", "2021-03-01"]


def build_working_db(path: Path) -> Path:
    """A working database as dbt + the loader would leave it, for the S3 (orders) metrics."""
    with duckdb.connect(str(path)) as conn:
        ensure_tables(conn, [ORDERS])
        conn.execute("create schema reference; create schema metrics; create schema intermediate")
        conn.execute(
            f"create table reference.hubei_divisions as select * from read_csv('{SEEDS / 'hubei_divisions.csv'}', all_varchar = true)"
        )
        conn.execute(
            f"create table reference.metric_definitions as select * from read_csv('{SEEDS / 'metric_definitions.csv'}', all_varchar = true)"
        )
        conn.execute(
            "create table metrics.metric_catalog as select metric_id, measure_code, name_zh, name_en, unit, "
            "definition_zh, definition_en, source, aggregation, additive_over_months::boolean as additive_over_months "
            "from reference.metric_definitions"
        )
        # the intermediate models the gate reads: no record coded at the province, none quarantined
        conn.execute(
            "create table intermediate.int_metric_events (metric_id varchar, region_code varchar, "
            "period_month date, value decimal(38, 10), entity_id varchar)"
        )
        conn.execute(
            "create table intermediate.int_quarantined_records (source varchar, table_name varchar, "
            "record_key varchar, column_name varchar, value varchar, reason varchar, file varchar, row_number bigint)"
        )
        conn.execute(
            "create table metrics.plan_progress (metric_id varchar, measure_code varchar, region_code varchar, "
            "target_value double, deadline date, actual_to_date double, completion_ratio double, as_of_month date)"
        )
        # the reader tables every publish carries (dbt builds them from the seeds)
        conn.execute(
            "create table metrics.regions as select county_code as region_code, county_name as name_zh, "
            "'county' as level, prefecture_code as parent_code, prefecture_code from reference.hubei_divisions"
        )
        conn.execute(
            "create table metrics.plan_measures as select distinct measure_code, measure_code as title_zh, "
            "measure_code as title_en, '' as lead_org from reference.metric_definitions"
        )
        conn.execute(
            "create table metrics.publish_context as select 'p-test' as publish_id, date '2021-03-31' as as_of_date"
        )
        # raw orders: three versions of two orders, the newest updated on 2021-03-30 (Beijing)
        for order_id, updated_at, record_hash in [
            ("o1", "2021-03-01T10:00:00+08:00", "h1"),
            ("o1", "2021-03-30T10:00:00+08:00", "h2"),
            ("o2", "2021-03-15T10:00:00+08:00", "h3"),
        ]:
            conn.execute(
                "insert into raw.kechuang_orders__orders (order_id, enterprise_size, county_code, placed_at, status, "
                "updated_at, _record_hash, _seq, _manifest_id) values (?, 'small', '420102', ?, 'placed', ?, ?, 1, 'm')",
                [order_id, updated_at, updated_at, record_hash],
            )
        conn.execute(
            "insert into meta.watermarks values ('kechuang_orders', 'orders', '2021-03-30T10:00:00+08:00', 'm', now())"
        )
        add_extract_runs(conn, [120, 100, 90, 110, 105])
        conn.execute(
            """create table metrics.plan_metric_values (metric_id varchar, measure_code varchar, region_code varchar,
               region_level varchar, period_month date, value double, unit varchar, publish_id varchar)"""
        )
        s3 = conn.execute(
            "select metric_id, measure_code, unit, aggregation from reference.metric_definitions where source = 'S3'"
        ).fetchall()
        rows = []
        for i, (metric_id, measure, unit, aggregation) in enumerate(s3):
            for m, month in enumerate(MONTHS):
                province = 0.0
                for p, (prefecture, counties) in enumerate(PREFECTURES.items()):
                    if aggregation == "sum":
                        county_values = [float(i + m + p + c + 1) for c in range(len(counties))]
                        prefecture_value = sum(county_values)
                    else:  # medians and ratios are recomputed per level, not summed
                        county_values = [0.25 + 0.1 * c for c in range(len(counties))]
                        prefecture_value = 0.4
                    rows += [
                        (metric_id, measure, c, "county", month, v, unit)
                        for c, v in zip(counties, county_values, strict=True)
                    ]
                    rows.append((metric_id, measure, prefecture, "prefecture", month, prefecture_value, unit))
                    province += prefecture_value
                rows.append(
                    (metric_id, measure, "420000", "province", month, province if aggregation == "sum" else 0.5, unit)
                )
        conn.executemany("insert into metrics.plan_metric_values values (?, ?, ?, ?, ?, ?, ?, 'p-test')", rows)
    return path


def add_extract_runs(conn, records: list[int], start: int = 0) -> None:
    """Extract runs of the orders endpoint, oldest first, each with its records received."""
    for n, received in enumerate(records, start):
        conn.execute(
            "insert into meta.extract_runs (manifest_id, source, endpoint, records_received, rows_landed, quarantined, "
            "loaded_at) values (?, 'kechuang_orders', 'orders', ?, ?, ?, ?)",
            [
                f"kechuang_orders/orders/run{n:02d}",
                received,
                received,
                1 if n == 0 else 0,
                datetime(2021, 1, 1, tzinfo=BEIJING) + timedelta(days=n),
            ],
        )
    conn.execute(
        "insert into meta.quarantine (manifest_id, source, endpoint, column_name, value, reason) "
        "select 'kechuang_orders/orders/run00', 'kechuang_orders', 'orders', 'placed_at', 'yesterday', 'not a timestamp' "
        "where not exists (select 1 from meta.quarantine)"
    )


@pytest.fixture
def working_db(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("PLAN_METRICS_DATA_DIR", str(tmp_path / "data"))
    path = Settings.from_env().working_db  # the data folder's, as the gate finds it
    path.parent.mkdir(parents=True)
    return build_working_db(path)


def ctx(run_id: str, as_of: datetime = AS_OF):
    """The run's context as the transform DAG computes it."""
    return run_context(run_id, as_of, as_of)


def sql(db: Path, statement: str) -> None:
    with duckdb.connect(str(db)) as conn:
        conn.execute(statement)


def ledger(db: Path, run_id: str) -> list[dict]:
    with duckdb.connect(str(db), read_only=True) as conn:
        cur = conn.execute("select * from meta.quality_checks where run_id = ? order by all", [run_id])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_clean_working_database_passes_and_every_check_lands_in_the_ledger(working_db, tmp_path):
    # GIVEN a working database that obeys the contract, and one passing and one warning dbt test
    dbt = [
        {"resource_type": "test", "name": "unique_orders", "status": "pass", "failures": 0, "table": "stg"},
        {"resource_type": "test", "name": "accepted_range", "status": "warn", "failures": 2, "table": "stg"},
        {"resource_type": "model", "name": "plan_metric_values", "status": "success"},
    ]
    # WHEN the gate runs
    summary = run_gate(Settings.from_env(), ctx("run-clean"), dbt)
    # THEN nothing blocks; the ledger holds dbt tests, GX expectations and extraction quarantines
    assert summary["checks_failed"] == 0
    rows = ledger(working_db, "run-clean")
    by_layer = {layer: [r for r in rows if r["layer"] == layer] for layer in ("dbt", "gx", "extract")}
    assert [r["check_name"] for r in by_layer["dbt"]] == ["accepted_range", "unique_orders"]
    assert {r["suite"] for r in by_layer["gx"]} >= {
        "plan_metric_values", "plan_metric_values__province_totals", "plan_metric_values__coverage",
        "raw__freshness", "raw__volume", "raw__keys", "raw__required_fields", "metric_catalog",
    }  # fmt: skip
    quarantine = [r for r in by_layer["extract"] if r["observed_value"] == 1]
    assert len(by_layer["extract"]) == 5 and len(quarantine) == 1
    assert "not a timestamp" in quarantine[0]["sample"] and quarantine[0]["severity"] == "warn"
    assert all(r["success"] for r in rows if r["severity"] == "block")
    # AND the HTML report of the run exists
    report = Path(summary["data_docs"])
    assert report.is_relative_to(tmp_path / "data" / "quality") and (report.parent / "pmv.html").exists()
    # AND a second gate does not count the same extract runs again
    run_gate(Settings.from_env(), ctx("run-again"))
    assert not [r for r in ledger(working_db, "run-again") if r["layer"] == "extract"]


DEFECTS = [
    pytest.param(
        "update metrics.plan_metric_values set value = -5 "
        "where metric_id = 'orders_resolved' and region_code = '420502' and period_month = '2021-01-01'",
        ["plan_metric_values__non_negative", "-5", "orders_resolved", "420502"],
        id="negative-count",
    ),
    pytest.param(
        "delete from metrics.plan_metric_values where metric_id = 'orders_tech_transaction_cny'",
        ["plan_metric_values__coverage", "published_rows", "orders_tech_transaction_cny"],
        id="missing-metric",
    ),
    pytest.param(
        "update metrics.plan_metric_values set value = value + 7 "
        "where metric_id = 'orders_accepted' and region_level = 'province' and period_month = '2021-03-01'",
        ["plan_metric_values__province_totals", "orders_accepted", "2021-03-01", "difference"],
        id="province-total-does-not-add-up",
    ),
    pytest.param(
        "update metrics.plan_metric_values set period_month = '2021-04-01' where period_month = '2021-03-01'",
        ["column=period_month", "2021-04-01"],
        id="month-after-the-run",
    ),
    pytest.param(
        "update metrics.plan_metric_values set value = 1.5 where metric_id = 'orders_sme_share' and region_code = '420000'",
        ["plan_metric_values__ratios", "1.5", "orders_sme_share"],
        id="ratio-above-one",
    ),
    pytest.param(
        "insert into raw.kechuang_orders__orders select * from raw.kechuang_orders__orders where _record_hash = 'h3'",
        ["raw__keys", "raw.kechuang_orders__orders", "o2"],
        id="raw-version-stored-twice",
    ),
]


def write_audit_publish(working_db: Path, run, published: Path) -> None:
    """The transform DAG's audit → publish sequence (dbt's part is already done here)."""
    gate = run_gate(Settings.from_env(), run)
    publish(
        Settings.from_env(), run.publish_id, gate["checks_passed"], gate["checks_failed"], None, published_db=published
    )


@pytest.mark.parametrize(("plant", "named"), DEFECTS)
def test_a_planted_defect_fails_the_gate_names_it_and_leaves_the_published_file_untouched(
    working_db, tmp_path, plant, named
):
    # GIVEN a published file from a clean run
    published = tmp_path / "published" / "plan_metrics.duckdb"
    write_audit_publish(working_db, ctx("run-1"), published)
    before = sha256(published)
    # WHEN a defect is planted and the write-audit-publish sequence runs again
    sql(working_db, plant)
    with pytest.raises(GateFailed) as failure:
        write_audit_publish(working_db, ctx("run-2"), published)
    # THEN the message names the check, the table, the failing values and how to investigate
    message = str(failure.value)
    for text in named:
        assert text in message, message
    assert "look at the rows: select" in message and "meta.quality_checks where run_id = 'run-2'" in message
    # AND the published file is byte for byte what it was, and the failure is in the ledger
    assert sha256(published) == before
    failed = [r for r in ledger(working_db, "run-2") if not r["success"] and r["severity"] == "block"]
    assert len(failed) >= 1


def test_a_stale_source_warns_in_the_ledger_and_the_log_and_the_publish_goes_on(working_db, tmp_path, caplog):
    # GIVEN orders whose newest record is 2021-03-30, and a run whose data interval ends 2021-06-01
    published = tmp_path / "published" / "plan_metrics.duckdb"
    as_of = datetime(2021, 6, 1, tzinfo=BEIJING)
    # WHEN the gate runs and then the publish
    with caplog.at_level(logging.WARNING, logger="expectations.gate"):
        summary = run_gate(Settings.from_env(), ctx("run-stale", as_of))
    publish(
        Settings.from_env(), "p-stale", summary["checks_passed"], summary["checks_failed"], None, published_db=published
    )
    # THEN the ledger holds a failed freshness check with severity warn naming the source and its age
    stale = [r for r in ledger(working_db, "run-stale") if r["suite"] == "raw__freshness"]
    assert [(r["success"], r["severity"]) for r in stale] == [(False, "warn")]
    sample = json.loads(stale[0]["sample"])
    assert sample[0]["source"] == "kechuang_orders" and sample[0]["age_hours"] == pytest.approx(
        38 + 24 * (30 + 31), abs=0.1
    )
    # AND the log says so, and the new version is published
    assert any("quality warning" in m and "kechuang_orders" in m and "raw__freshness" in m for m in caplog.messages)
    with duckdb.connect(str(published), read_only=True) as conn:
        assert conn.execute("select publish_id from metrics.publish_log").fetchall() == [("p-stale",)]


def test_freshness_is_judged_against_the_data_interval_so_a_backfill_does_not_warn(working_db):
    # GIVEN data whose newest record is 2021-03-30 10:00 and a backfill run whose interval ends 2021-04-01
    # (the wall clock is years later)
    run_gate(Settings.from_env(), ctx("run-backfill"))
    # THEN freshness passes: 38 hours old at the interval end, within the 72 hours allowed
    rows = ledger(working_db, "run-backfill")
    fresh = [r for r in rows if r["suite"] == "raw__freshness"]
    assert [(r["success"], r["observed"]) for r in fresh] == [(True, "0 of 1 rows unexpected")]
    assert not [r for r in rows if r["layer"] == "gx" and not r["success"]]


def test_a_volume_anomaly_warns_in_the_ledger_and_the_log_and_does_not_block(working_db, caplog):
    # GIVEN five runs of ~100 records, then a run that received only 3
    with duckdb.connect(str(working_db)) as conn:
        add_extract_runs(conn, [3], start=5)
    # WHEN the gate runs
    with caplog.at_level(logging.WARNING, logger="expectations.gate"):
        summary = run_gate(Settings.from_env(), ctx("run-thin"))
    # THEN it passes with a volume warning that names the endpoint, its run and the median before
    assert summary["checks_failed"] == 0 and summary["warnings"] >= 1
    volume = [r for r in ledger(working_db, "run-thin") if r["suite"] == "raw__volume"]
    assert [(r["success"], r["severity"]) for r in volume] == [(False, "warn")]
    sample = json.loads(volume[0]["sample"])[0]
    assert (sample["endpoint"], sample["latest_records"], sample["median_before"]) == ("orders", 3, 105.0)
    assert any("raw__volume" in m and "kechuang_orders/orders/run05" in m for m in caplog.messages)


def test_plan_progress_with_a_negative_actual_blocks_and_names_the_row(working_db):
    # GIVEN plan_progress rows, one with a negative actual
    sql(
        working_db,
        """insert into metrics.plan_progress values
           ('orders_placed', 'M02', '420000', 100.0, date '2021-12-31', 40.0, 0.4, date '2021-03-01'),
           ('orders_resolved', 'M02', '429999', 50.0, date '2021-12-31', -1.0, -0.02, date '2021-03-01')""",
    )
    # WHEN the gate runs THEN it names the table and the bad row
    with pytest.raises(GateFailed) as failure:
        run_gate(Settings.from_env(), ctx("run-progress"))
    message = str(failure.value)
    assert "metrics.plan_progress" in message and "429999" in message and "column=actual_to_date" in message
    # AND once the row is right, the gate passes with plan_progress validated
    sql(
        working_db,
        "update metrics.plan_progress set region_code = '420100', actual_to_date = 1, completion_ratio = 0.02",
    )
    run_gate(Settings.from_env(), ctx("run-progress-ok"))
    assert any(r["suite"] == "plan_progress" for r in ledger(working_db, "run-progress-ok"))
