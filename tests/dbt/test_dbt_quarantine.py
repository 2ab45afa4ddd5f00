"""One bad record never blocks the publish: dbt's staging rules (intermediate/quality) set aside
each record that breaks one — an event dated after the month the data is as of or before the
plan, a history that runs backwards, impossible visitor counts, a stop before the plan, a report
of a centre the S1 registry does not hold — with its column, value and reason; everything else
is published, and the gate's month check on the published table still passes. The same
records are judged again at every build: a month that was in the future is accepted once the
data is as of it."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from tests.dbt.test_dbt_metrics import build, create_raw_tables, insert_file, insert_http, order, work_db

AS_OF_JUNE = "2021-06-30T23:59:59+08:00"
AS_OF_DECEMBER = "2021-12-31T23:59:59+08:00"
T1 = "2021-07-01 00:00:00+00"
VISIT = "stop_id, visit_date, visitors, student_visitors, updated_at"
STOP = "stop_id, host_county_code, start_date, end_date, status, updated_at"
REPORT = "centre_id, county_code, report_month, student_visits, public_visits, activities"
ACTIVITY = "measure_code, metric_id, region_code, activity_date, value"


def row(columns: str, *values) -> dict:
    return dict(zip(columns.split(", "), values, strict=True))


def fill(conn) -> None:
    insert_http(
        conn,
        "kechuang_orders__orders",
        T1,
        [
            order("ok", "420102", "small", "placed", "2021-05-02T10:00:00+08:00", "2021-05-02T10:00:00+08:00"),
            # 2020-09 typed as 2021-09: in the future as of June 2021
            order("typo", "420102", "small", "placed", "2021-09-02T10:00:00+08:00", "2021-05-02T10:00:00+08:00"),
            order(
                "backwards",
                "420103",
                "large",
                "accepted",
                "2021-05-10T10:00:00+08:00",
                "2021-05-10T10:00:00+08:00",
                accepted="2021-05-09T10:00:00+08:00",
            ),
            order("before-plan", "420103", "micro", "placed", "2019-12-01T10:00:00+08:00", "2021-05-10T10:00:00+08:00"),
        ],
    )
    insert_http(
        conn,
        "scipop_platform__exhibition_stops",
        T1,
        [
            row(STOP, "s1", "420102", "2021-05-01", "2021-05-20", "open", "2021-05-01T08:00:00+08:00"),
            row(STOP, "s-2019", "420102", "2019-11-01", "2019-11-20", "closed", "2021-05-01T08:00:00+08:00"),
        ],
    )
    insert_http(
        conn,
        "scipop_platform__stop_visits",
        T1,
        [
            row(VISIT, "s1", "2021-05-02", 100, 40, "2021-05-02T20:00:00+08:00"),
            row(VISIT, "s1", "2021-05-03", -5, 0, "2021-05-03T20:00:00+08:00"),
            row(VISIT, "s1", "2021-05-04", 10, 11, "2021-05-04T20:00:00+08:00"),
            row(VISIT, "s1", "2022-05-05", 10, 1, "2021-05-05T20:00:00+08:00"),
            row(VISIT, "s-2019", "2019-11-02", 10, 1, "2021-05-05T20:00:00+08:00"),
        ],
    )
    insert_http(
        conn,
        "scipop_platform__rural_centres",
        T1,
        [
            row(
                "centre_id, county_code, opened_on, status, updated_at",
                "c1",
                "420102",
                "2020-01-01",
                "active",
                "2020-07-01T00:00:00+08:00",
            )
        ],
    )
    insert_file(
        conn,
        "rural_centre_reports__reports",
        "2021-05/a.csv",
        "2021-06-01 08:00:00+08",
        [
            row(REPORT, "c1", "420102", "2021-05-01", 10, 20, 1),
            row(REPORT, "c1", "420102", "2021-08-01", 10, 20, 1),
            row(REPORT, "c-ghost", "420102", "2021-05-01", 10, 20, 1),
        ],
    )
    insert_file(
        conn,
        "plan_ledger__activities",
        "ledger.xlsx",
        "2021-06-01 08:00:00+08",
        [
            row(ACTIVITY, "M09", "intl_exchange_events", "420100", "2021-05-10", 2),
            row(ACTIVITY, "M09", "intl_exchange_events", "420100", "2020-06-10", 1),
        ],
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("quarantine")
    db = work_db(tmp)
    with duckdb.connect(str(db)) as conn:
        create_raw_tables(conn)
        fill(conn)
    with pytest.MonkeyPatch.context() as mp:
        build(tmp, db, mp, as_of=AS_OF_JUNE)
    return tmp, db


def quarantined(db) -> set[tuple]:
    with duckdb.connect(str(db)) as conn:
        return set(
            conn.execute(
                "select source, table_name, record_key, column_name, reason from intermediate.int_quarantined_records"
            ).fetchall()
        )


def test_each_bad_record_is_set_aside_with_its_column_and_reason_and_only_those(built):
    _, db = built
    got = {(s, t, k, c) for s, t, k, c, _ in quarantined(db)}
    assert got == {
        ("kechuang_orders", "orders", "typo", "placed_at"),
        ("kechuang_orders", "orders", "backwards", "accepted_at"),
        ("kechuang_orders", "orders", "before-plan", "placed_at"),
        ("scipop_platform", "exhibition_stops", "s-2019", "start_date"),
        ("scipop_platform", "stop_visits", "s1@2021-05-03", "visitors"),
        ("scipop_platform", "stop_visits", "s1@2021-05-04", "student_visitors"),
        ("scipop_platform", "stop_visits", "s1@2022-05-05", "visit_date"),
        ("scipop_platform", "stop_visits", "s-2019@2019-11-02", "visit_date"),
        ("rural_centre_reports", "reports", "c1@2021-08", "报告月份"),
        ("rural_centre_reports", "reports", "c-ghost@2021-05", "科技馆编号"),
        ("plan_ledger", "activities", "intl_exchange_events@420100@2020-06-10", "日期"),
    }
    reasons = {k: r for _, _, k, _, r in quarantined(db)}
    assert reasons["typo"] == "placed_at outside the plan period up to the as-of month"
    assert reasons["backwards"] == "accepted before it was placed"
    assert reasons["c-ghost@2021-05"].startswith("unknown centre")


def test_everything_else_is_published_and_no_month_lies_after_the_as_of_month(built):
    _, db = built
    with duckdb.connect(str(db)) as conn:
        months = {
            r[0]
            for r in conn.execute(
                "select distinct strftime(period_month, '%Y-%m') from metrics.plan_metric_values"
            ).fetchall()
        }
        placed = conn.execute(
            "select value from metrics.plan_metric_values where metric_id = 'orders_placed' "
            "and region_code = '420000' and period_month = '2021-05-01'"
        ).fetchone()
        visitors = conn.execute(
            "select value from metrics.plan_metric_values where metric_id = 'mobile_museum_visitors' "
            "and region_code = '420102' and period_month = '2021-05-01'"
        ).fetchone()
        events = conn.execute(
            "select region_code, value from metrics.plan_metric_values where metric_id = 'intl_exchange_events' "
            "order by 1"
        ).fetchall()
    assert max(months) <= "2021-06" and min(months) >= "2020-07"
    assert placed == (1.0,)  # only "ok": the typo, the backwards and the 2019 orders are set aside
    assert visitors == (100.0,)  # the negative, the impossible and the future stop-days are not counted
    assert events == [("420000", 2.0), ("420100", 2.0)]  # the 2020-06 row is set aside


def test_a_month_in_the_future_is_accepted_once_the_data_is_as_of_it(built, tmp_path):
    _, june = built
    # a copy of the June build, built again as of December: the module's other tests read the
    # June build, in whatever order they run
    db = work_db(tmp_path)
    db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(june, db)
    with pytest.MonkeyPatch.context() as mp:
        build(tmp_path, db, mp, as_of=AS_OF_DECEMBER)
    keys = {k for _, _, k, _, _ in quarantined(db)}
    assert "c1@2021-08" not in keys and "typo" not in keys
    assert "backwards" in keys and "s1@2022-05-05" in keys


def test_the_set_aside_records_place_each_bad_record_at_its_region_and_months_without_its_value(built):
    # GIVEN the June build of the bad records above
    _, db = built
    # WHEN "why is this number X?" reads what was set aside (marts/facts/set_aside_records)
    with duckdb.connect(str(db)) as conn:
        rows = conn.execute(
            "select dataset, record_key, region_code, month_column, strftime(period_month, '%Y-%m'), reason_key "
            "from metrics.set_aside_records order by all"
        ).fetchall()
        columns = {
            c
            for (c,) in conn.execute(
                "select column_name from duckdb_columns() where table_name = 'set_aside_records'"
            ).fetchall()
        }
    got = {(d, k, r, m, p) for d, k, r, m, p, _ in rows}
    # THEN each bad record is there once per month it would have counted in, at its region
    assert {
        ("orders", "backwards", "420103", "placed_month", "2021-05"),
        ("orders", "backwards", "420103", "accepted_month", "2021-05"),
        ("orders", "typo", "420102", "placed_month", "2021-09"),
        ("orders", "before-plan", "420103", "placed_month", "2019-12"),
        ("exhibition_stops", "s-2019", "420102", "start_month", "2019-11"),
        ("stop_visits", "s1@2021-05-03", "420102", "visit_month", "2021-05"),
        ("stop_visits", "s1@2021-05-04", "420102", "visit_month", "2021-05"),
        ("reports", "c1@2021-08", "420102", "report_month", "2021-08"),
        ("reports", "c-ghost@2021-05", "420102", "report_month", "2021-05"),
        ("activities", "intl_exchange_events@420100@2020-06-10", "420100", "activity_month", "2020-06"),
    } <= got
    assert {k for _, k, *_ in got} == {k for _, _, k, _, _ in quarantined(db)}
    # AND with the reason's key, never the value that was written
    assert all(key for *_, key in rows) and "value" not in columns
