"""The dbt project on crafted raw rows: every metric family, computed by hand from metrics.md.

The raw tables are created from extract/sources/__init__.py (the raw contract), filled with a few
records per source by SQL (no simulator), and the project is built in-process with
warehouse.transform.dbt_build in a per-module data folder. Each expected value below is worked
out by hand from the rows in `fill_raw` and the definitions in shared/design/metrics.md.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from extract.sources import FILE_LINEAGE, all_endpoints, all_file_tables
from settings import Settings
from warehouse.run_context import run_context
from warehouse.transform import dbt_build

HTTP_BOOKKEEPING = {
    "_extra": "json",
    "_record_hash": "varchar",
    "_seq": "bigint",
    "_manifest_id": "varchar",
    "_landed_at": "timestamptz",
    "_loaded_at": "timestamptz",
}
# the loader adds the same three columns to a file table (warehouse/raw_load.py _LOADER_COLUMNS)
FILE_BOOKKEEPING = {**FILE_LINEAGE, "_manifest_id": "varchar", "_landed_at": "timestamptz", "_loaded_at": "timestamptz"}
_SEQ = itertools.count(1)


def create_raw_tables(conn: duckdb.DuckDBPyConnection) -> None:
    """The raw layer as the loaders create it, from the pipeline's contract (not from dbt)."""
    conn.execute("create schema if not exists raw")
    for ep in all_endpoints():
        cols = {**ep.fields, **HTTP_BOOKKEEPING}
        conn.execute(f"create table {ep.raw_table} ({', '.join(f'{c} {t}' for c, t in cols.items())})")
    for ft in all_file_tables():
        cols = {**ft.fields, **FILE_BOOKKEEPING}
        conn.execute(f"create table {ft.raw_table} ({', '.join(f'{c} {t}' for c, t in cols.items())})")


def insert_http(conn: duckdb.DuckDBPyConnection, table: str, loaded_at: str, rows: list[dict]) -> None:
    """Versions of HTTP records as raw_load inserts them: landed and loaded at `loaded_at`."""
    for row in rows:
        row = {"_seq": next(_SEQ), "_landed_at": loaded_at, "_loaded_at": loaded_at, **row}
        cols = ", ".join(row)
        conn.execute(f"insert into raw.{table} ({cols}) values ({', '.join('?' * len(row))})", list(row.values()))


def insert_file(conn: duckdb.DuckDBPyConnection, table: str, path: str, mtime: str, rows: list[dict]) -> None:
    """Accepted rows of one dropped file (rows numbered as in the sheet, below a header)."""
    for number, row in enumerate(rows, start=2):
        row = {**row, "_file_path": path, "_file_mtime": mtime, "_row_number": number, "_landed_at": mtime}
        cols = ", ".join(row)
        conn.execute(f"insert into raw.{table} ({cols}) values ({', '.join('?' * len(row))})", list(row.values()))


def work_db(tmp: Path) -> Path:
    """The working database of the data folder `tmp` (what dbt_build builds)."""
    db = Settings.from_env().with_data_dir(tmp).working_db
    db.parent.mkdir(parents=True, exist_ok=True)
    return db


def build(tmp: Path, db: Path, monkeypatch: pytest.MonkeyPatch, as_of: str | None = None, **kwargs) -> dict:
    """dbt build into `db` (`work_db(tmp)`), with its target and logs under `tmp` (parallel
    runs do not collide), as of `as_of` (default: now)."""
    settings = Settings.from_env().with_data_dir(tmp)
    assert db == settings.working_db
    now = datetime.now(UTC)
    return dbt_build(settings, run_context("test-publish", now, as_of or now), **kwargs)


def order(order_id: str, county: str, size: str, status: str, placed: str, updated: str, **kw) -> dict:
    return {
        "order_id": order_id,
        "enterprise_id": f"E-{order_id}",
        "enterprise_size": size,
        "county_code": county,
        "placed_at": placed,
        "status": status,
        "accepted_at": kw.get("accepted"),
        "resolved_at": kw.get("resolved"),
        "cast_paid_cny": kw.get("paid", "0.00"),
        "tech_transaction_cny": kw.get("tech", "0.00"),
        "updated_at": updated,
    }


def fill_raw(conn: duckdb.DuckDBPyConnection) -> None:
    t1, t2 = "2020-11-01 00:00:00+00", "2020-11-20 00:00:00+00"
    # --- S3 orders (M02) ---
    insert_http(
        conn,
        "kechuang_orders__orders",
        t1,
        [
            # placed 16:30Z on 31 July = 00:30 on 1 August in Beijing; accepted 4 h later
            order(
                "o1",
                "420102",
                "small",
                "resolved",
                "2020-07-31T16:30:00Z",
                "2020-08-20T10:00:00+08:00",
                accepted="2020-08-01T04:30:00+08:00",
                resolved="2020-08-20T10:00:00+08:00",
                paid="100.50",
                tech="1000.00",
            ),
            order("o2", "420102", "large", "placed", "2020-08-02T10:00:00+08:00", "2020-08-02T10:00:00+08:00"),
            order(
                "o3",
                "420103",
                "micro",
                "closed",
                "2020-08-05T00:00:00+08:00",
                "2020-10-01T00:00:00+08:00",
                accepted="2020-08-05T06:00:00+08:00",
                resolved="2020-10-01T00:00:00+08:00",
                paid="50.25",
                tech="0.00",
            ),
            order("o4", "420103", "small", "placed", "2020-08-06T00:00:00+08:00", "2020-08-06T00:00:00+08:00"),
            # 仙桃 429004 is its own prefecture: no county row
            order("o5", "429004", "medium", "placed", "2020-09-10T09:00:00+08:00", "2020-09-10T09:00:00+08:00"),
        ],
    )
    insert_http(
        conn,
        "kechuang_orders__orders",
        t2,
        [
            # o2 accepted 10 h after placing (a later version); o4 cancelled: never counts
            order(
                "o2",
                "420102",
                "large",
                "in_service",
                "2020-08-02T10:00:00+08:00",
                "2020-08-02T20:00:00+08:00",
                accepted="2020-08-02T20:00:00+08:00",
            ),
            order("o4", "420103", "small", "cancelled", "2020-08-06T00:00:00+08:00", "2020-08-07T00:00:00+08:00"),
        ],
    )
    # --- S2 roadshows (M01) ---
    rs = "kechuang_roadshows__roadshows"
    insert_http(
        conn,
        rs,
        t1,
        [
            {
                "roadshow_id": "r1",
                "hub_city_code": "420100",
                "held_on": "2020-08-15",
                "status": "held",
                "enterprises_attending": 30,
                "updated_at": "2020-08-15T18:00:00+08:00",
            },
            {
                "roadshow_id": "r2",
                "hub_city_code": "421200",
                "held_on": "2020-09-01",
                "status": "held",
                "enterprises_attending": 99,
                "updated_at": "2020-09-01T18:00:00+08:00",
            },
            {
                "roadshow_id": "r3",
                "hub_city_code": "421200",
                "held_on": "2020-09-20",
                "status": "held",
                "enterprises_attending": 12,
                "updated_at": "2020-09-20T18:00:00+08:00",
            },
            {
                "roadshow_id": "r4",
                "hub_city_code": "420100",
                "held_on": "2020-10-01",
                "status": "scheduled",
                "enterprises_attending": 5,
                "updated_at": "2020-09-25T18:00:00+08:00",
            },
        ],
    )
    insert_http(conn, rs, t2, [{"roadshow_id": "r2", "hub_city_code": "421200", "held_on": "2020-09-01",
                                "status": "cancelled", "enterprises_attending": 99,
                                "updated_at": "2020-09-02T08:00:00+08:00"}])  # fmt: skip
    pj = "kechuang_roadshows__roadshow_projects"
    project = "project_id, roadshow_id, signed_contracts, contract_amount_cny, updated_at"
    insert_http(
        conn,
        pj,
        t1,
        [
            dict(zip(project.split(", "), ["p1", "r1", 2, "1000000.00", "2020-08-15T18:00:00+08:00"], strict=True)),
            dict(zip(project.split(", "), ["p2", "r1", 0, "0.00", "2020-08-15T18:00:00+08:00"], strict=True)),
            dict(zip(project.split(", "), ["p3", "r2", 5, "7.00", "2020-09-01T18:00:00+08:00"], strict=True)),
            dict(zip(project.split(", "), ["p4", "r3", 0, "0.00", "2020-09-20T18:00:00+08:00"], strict=True)),
        ],
    )
    insert_http(conn, pj, t2, [dict(zip(project.split(", "), ["p4", "r3", 1, "250000.50", "2020-10-05T18:00:00+08:00"], strict=True))])  # fmt: skip
    # --- S1 mobile museum stops and stop-days (M06) ---
    st = "scipop_platform__exhibition_stops"
    stop = "stop_id, host_county_code, start_date, end_date, status, updated_at"
    insert_http(
        conn,
        st,
        t1,
        [
            dict(zip(stop.split(", "), ["s1", "420102", "2020-08-25", "2020-10-05", "open", "2020-08-25T08:00:00+08:00"], strict=True)),
            dict(zip(stop.split(", "), ["s2", "420103", "2020-09-10", "2020-09-20", "open", "2020-09-10T08:00:00+08:00"], strict=True)),
            dict(zip(stop.split(", "), ["s3", "421202", "2020-09-30", "2020-09-30", "closed", "2020-10-01T08:00:00+08:00"], strict=True)),
        ],
    )  # fmt: skip
    insert_http(conn, st, t2, [dict(zip(stop.split(", "), ["s2", "420103", "2020-09-10", "2020-09-20", "cancelled", "2020-09-21T08:00:00+08:00"], strict=True))])  # fmt: skip
    sv = "scipop_platform__stop_visits"
    visit = "stop_id, visit_date, visitors, student_visitors, updated_at"
    insert_http(
        conn,
        sv,
        t1,
        [
            dict(zip(visit.split(", "), ["s1", "2020-08-31", 100, 40, "2020-08-31T20:00:00+08:00"], strict=True)),
            dict(zip(visit.split(", "), ["s1", "2020-09-01", 50, None, "2020-09-01T20:00:00+08:00"], strict=True)),
            dict(zip(visit.split(", "), ["s2", "2020-09-10", 70, 70, "2020-09-10T20:00:00+08:00"], strict=True)),
            dict(zip(visit.split(", "), ["s3", "2020-09-30", 20, 5, "2020-09-30T20:00:00+08:00"], strict=True)),
        ],
    )
    # a late correction of an old day
    insert_http(conn, sv, t2, [dict(zip(visit.split(", "), ["s1", "2020-08-31", 110, 45, "2020-11-19T09:00:00+08:00"], strict=True))])  # fmt: skip
    # --- S1 rural centre registry and S4 monthly reports (M06) ---
    rc = "scipop_platform__rural_centres"
    centre = "centre_id, county_code, opened_on, status, updated_at"
    insert_http(
        conn,
        rc,
        t1,
        [
            dict(zip(centre.split(", "), ["c1", "420102", "2020-01-01", "active", "2020-07-01T00:00:00+08:00"], strict=True)),
            dict(zip(centre.split(", "), ["c2", "420102", "2020-09-15", "active", "2020-09-15T00:00:00+08:00"], strict=True)),
            dict(zip(centre.split(", "), ["c3", "421202", "2020-01-01", "active", "2020-07-01T00:00:00+08:00"], strict=True)),
            dict(zip(centre.split(", "), ["c4", "421202", "2020-01-01", "active", "2020-07-01T00:00:00+08:00"], strict=True)),
        ],
    )  # fmt: skip
    insert_http(conn, rc, t2, [dict(zip(centre.split(", "), ["c3", "421202", "2020-01-01", "suspended", "2020-10-10T00:00:00+08:00"], strict=True))])  # fmt: skip
    report = "centre_id, county_code, report_month, student_visits, public_visits, activities"
    rep = "rural_centre_reports__reports"

    def reports(*rows):
        return [dict(zip(report.split(", "), r, strict=True)) for r in rows]

    insert_file(
        conn, rep, "2020-08/a.csv", "2020-09-01 08:00:00+08", reports(["c1", "420102", "2020-08-01", 10, 20, 1])
    )
    insert_file(
        conn, rep, "2020-08/a_fixed.csv", "2020-09-03 08:00:00+08", reports(["c1", "420102", "2020-08-01", 15, 20, 1])
    )
    insert_file(conn, rep, "2020-09/b.xlsx", "2020-10-02 08:00:00+08", reports(["c3", "421202", "2020-09-01", 5, 5, 2]))
    insert_file(conn, rep, "2020-10/c.csv", "2020-11-02 08:00:00+08", reports(["c1", "420102", "2020-10-01", 1, 0, 0]))
    # --- S5 ledger activities and targets (M03-M09) ---
    act = "metric_id, region_code, activity_date, value"

    def ledger(*rows):
        return [dict(zip(act.split(", "), r, strict=True)) for r in rows]

    insert_file(
        conn,
        "plan_ledger__activities",
        "ledger_v1.xlsx",
        "2020-12-01 08:00:00+08",
        ledger(
            ["anxin_aid_person_times", "420100", "2020-08-10", 100],
            ["anxin_aid_person_times", "420102", "2020-08-11", 50],
            ["anxin_aid_person_times", "420000", "2020-08-12", 25],
            ["literacy_survey_prefectures", "420102", "2020-09-01", 1],
            ["literacy_survey_prefectures", "420100", "2020-09-02", 3],
            ["literacy_survey_prefectures", "421202", "2020-09-05", 0],
            ["literacy_survey_prefectures", "420000", "2020-09-06", 5],
            ["literacy_survey_prefectures", "429004", "2020-10-01", 1],
            ["policy_reports", "421200", "2020-11-03", 2],
            # a system metric in the ledger must not add to the system's numbers
            ["orders_placed", "420102", "2020-08-01", 99],
        ),
    )
    insert_file(conn, "plan_ledger__activities", "ledger_v2.xlsx", "2020-12-05 08:00:00+08",
                ledger(["anxin_aid_person_times", "420102", "2020-08-11", 60]))  # fmt: skip
    tgt = "metric_id, region_code, target_value, deadline"

    def targets(*rows):
        return [dict(zip(tgt.split(", "), r, strict=True)) for r in rows]

    insert_file(conn, "plan_ledger__targets", "ledger_v1.xlsx", "2020-12-01 08:00:00+08",
                targets(["anxin_aid_person_times", "420000", 100, "2021-12-31"]))  # fmt: skip
    insert_file(
        conn,
        "plan_ledger__targets",
        "ledger_v2.xlsx",
        "2020-12-05 08:00:00+08",
        targets(
            ["anxin_aid_person_times", "420000", 370, "2021-12-31"],
            ["literacy_survey_prefectures", "420000", 17, "2021-12-31"],
            ["policy_reports", "421200", 4, "2021-06-30"],
            ["orders_placed", "420100", 0, "2021-12-31"],
        ),
    )


AUG, SEP, OCT, NOV = "2020-08-01", "2020-09-01", "2020-10-01", "2020-11-01"
LEVEL = {"420102": "county", "420103": "county", "421202": "county", "420000": "province"}


def rows(metric: str, *cells: tuple[str, str, float]) -> dict:
    return {(metric, r, m): (LEVEL.get(r, "prefecture"), v) for r, m, v in cells}


EXPECTED = {
    "orders": {
        **rows("orders_placed", ("420102", AUG, 2), ("420103", AUG, 1), ("420100", AUG, 3), ("420000", AUG, 3),
               ("429004", SEP, 1), ("420000", SEP, 1)),
        **rows("orders_sme_share", ("420102", AUG, 1 / 2), ("420103", AUG, 1), ("420100", AUG, 2 / 3),
               ("420000", AUG, 2 / 3), ("429004", SEP, 0), ("420000", SEP, 0)),
        **rows("orders_accepted", ("420102", AUG, 2), ("420103", AUG, 1), ("420100", AUG, 3), ("420000", AUG, 3)),
        # hours: o1 4, o2 10 (420102), o3 6 (420103): median(4, 10) = 7; median(4, 6, 10) = 6
        **rows("orders_acceptance_hours_median", ("420102", AUG, 7), ("420103", AUG, 6), ("420100", AUG, 6),
               ("420000", AUG, 6)),
        **rows("orders_resolved", ("420102", AUG, 1), ("420100", AUG, 1), ("420000", AUG, 1), ("420000", SEP, 0),
               ("420103", OCT, 1), ("420100", OCT, 1), ("420000", OCT, 1)),
        **rows("orders_cast_paid_cny", ("420102", AUG, 100.5), ("420100", AUG, 100.5), ("420000", AUG, 100.5),
               ("420000", SEP, 0), ("420103", OCT, 50.25), ("420100", OCT, 50.25), ("420000", OCT, 50.25)),
        **rows("orders_tech_transaction_cny", ("420102", AUG, 1000), ("420100", AUG, 1000), ("420000", AUG, 1000),
               ("420000", SEP, 0), ("420103", OCT, 0), ("420100", OCT, 0), ("420000", OCT, 0)),
    },
    "roadshows": {
        **rows("roadshows_held", ("420100", AUG, 1), ("420000", AUG, 1), ("421200", SEP, 1), ("420000", SEP, 1)),
        **rows("roadshow_projects_pitched", ("420100", AUG, 2), ("420000", AUG, 2), ("421200", SEP, 1),
               ("420000", SEP, 1)),
        **rows("roadshow_enterprises_reached", ("420100", AUG, 30), ("420000", AUG, 30), ("421200", SEP, 12),
               ("420000", SEP, 12)),
        **rows("roadshow_contracts_signed", ("420100", AUG, 2), ("420000", AUG, 2), ("421200", SEP, 1),
               ("420000", SEP, 1)),
        **rows("roadshow_contract_amount_cny", ("420100", AUG, 1000000), ("420000", AUG, 1000000),
               ("421200", SEP, 250000.5), ("420000", SEP, 250000.5)),
    },
    "mobile_museums": {
        **rows("mobile_museum_stops_open", ("420102", AUG, 1), ("420102", SEP, 1), ("420102", OCT, 1),
               ("420100", AUG, 1), ("420100", SEP, 1), ("420100", OCT, 1), ("421202", SEP, 1), ("421200", SEP, 1),
               ("420000", AUG, 1), ("420000", SEP, 2), ("420000", OCT, 1)),
        **rows("mobile_museum_visitors", ("420102", AUG, 110), ("420102", SEP, 50), ("420100", AUG, 110),
               ("420100", SEP, 120), ("421202", SEP, 20), ("421200", SEP, 20), ("420103", SEP, 70), ("420000", AUG, 110),
               ("420000", SEP, 140)),
        **rows("mobile_museum_student_visitors", ("420102", AUG, 45), ("420102", SEP, 0), ("420100", AUG, 45),
               ("420100", SEP, 70), ("421202", SEP, 5), ("421200", SEP, 5), ("420103", SEP, 70), ("420000", AUG, 45),
               ("420000", SEP, 75)),
    },
    "rural_centres": {
        **rows("rural_centres_reporting", ("420102", AUG, 1), ("420102", OCT, 1), ("420100", AUG, 1),
               ("420100", OCT, 1), ("421202", SEP, 1), ("421200", SEP, 1), ("420000", AUG, 1), ("420000", SEP, 1),
               ("420000", OCT, 1)),
        **rows("rural_centre_student_visits", ("420102", AUG, 15), ("420102", OCT, 1), ("420100", AUG, 15),
               ("420100", OCT, 1), ("421202", SEP, 5), ("421200", SEP, 5), ("420000", AUG, 15), ("420000", SEP, 5),
               ("420000", OCT, 1)),
        **rows("rural_centre_public_visits", ("420102", AUG, 20), ("420102", OCT, 0), ("420100", AUG, 20),
               ("420100", OCT, 0), ("421202", SEP, 5), ("421200", SEP, 5), ("420000", AUG, 20), ("420000", SEP, 5),
               ("420000", OCT, 0)),
        **rows("rural_centre_activities", ("420102", AUG, 1), ("420102", OCT, 0), ("420100", AUG, 1),
               ("420100", OCT, 0), ("421202", SEP, 2), ("421200", SEP, 2), ("420000", AUG, 1), ("420000", SEP, 2),
               ("420000", OCT, 0)),
        # expected centres (active, opened by month end): Aug c1 | c4; Sep c1 c2 | c4; Oct c1 c2 | c4
        # reporting among them: Aug c1, Oct c1 (c3 reported in Sep but is suspended now: not in the rate)
        **rows("rural_centre_report_rate", ("420102", AUG, 1), ("420102", SEP, 0), ("420102", OCT, 1 / 2),
               ("420100", AUG, 1), ("420100", SEP, 0), ("420100", OCT, 1 / 2),
               ("421202", AUG, 0), ("421202", SEP, 0), ("421202", OCT, 0),
               ("421200", AUG, 0), ("421200", SEP, 0), ("421200", OCT, 0),
               ("420000", AUG, 1 / 2), ("420000", SEP, 0), ("420000", OCT, 1 / 3)),
    },
    "ledger": {
        # the 420102 row was replaced by the newer workbook (50 -> 60); the 420000 row counts at the province only
        **rows("anxin_aid_person_times", ("420102", AUG, 60), ("420100", AUG, 160), ("420000", AUG, 185)),
        # 420102 and 420100 are one prefecture; the 0 row and the 420000 row count for none
        **rows("literacy_survey_prefectures", ("420100", SEP, 1), ("420000", SEP, 1), ("429004", OCT, 1),
               ("420000", OCT, 1)),
        **rows("policy_reports", ("421200", NOV, 2), ("420000", NOV, 2)),
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("dbt_metrics")
    db = work_db(tmp)
    with duckdb.connect(str(db)) as conn:
        create_raw_tables(conn)
        fill_raw(conn)
    with pytest.MonkeyPatch.context() as mp:
        build(tmp, db, mp)
    return db


def published(db: Path, metrics: set[str]) -> dict:
    with duckdb.connect(str(db)) as conn:
        got = conn.execute(
            "select metric_id, region_code, strftime(period_month, '%Y-%m-%d'), region_level, value "
            "from metrics.plan_metric_values"
        ).fetchall()
    return {(m, r, p): (lvl, v) for m, r, p, lvl, v in got if m in metrics}


@pytest.mark.parametrize("family", [pytest.param(f, id=f) for f in EXPECTED])
def test_metric_family_rows_equal_hand_computed_values(built, family):
    # GIVEN raw rows of every source (versions, corrections, cancellations, newer files);
    # s2 was cancelled after its visits: the stop is not open, its stop-days still count
    expected = EXPECTED[family]
    # WHEN the project is built
    got = published(built, {m for m, _, _ in expected})
    # THEN the family's rows are exactly the hand-computed keys, levels and values
    assert sorted(set(got) - set(expected)) == [], "rows that should not exist"
    assert sorted(set(expected) - set(got)) == [], "rows missing"
    wrong = {k: (got[k], v) for k, v in expected.items() if got[k][0] != v[0] or abs(got[k][1] - v[1]) > 1e-9}
    assert wrong == {}


def test_plan_progress_is_cumulative_from_records_through_as_of_month(built):
    # GIVEN targets in two workbook versions and ledger/order activity up to November 2020
    # WHEN the project is built
    with duckdb.connect(str(built)) as conn:
        got = conn.execute(
            "select metric_id, region_code, measure_code, target_value, strftime(deadline, '%Y-%m-%d'), "
            "actual_to_date, completion_ratio, strftime(as_of_month, '%Y-%m-%d') from metrics.plan_progress"
        ).fetchall()
    # THEN one row per target of the newest workbook; distinct counts count each prefecture once
    assert sorted(got) == [
        ("anxin_aid_person_times", "420000", "M03", 370.0, "2021-12-31", 185.0, 0.5, NOV),
        ("literacy_survey_prefectures", "420000", "M06", 17.0, "2021-12-31", 2.0, pytest.approx(2 / 17), NOV),
        ("orders_placed", "420100", "M02", 0.0, "2021-12-31", 3.0, None, NOV),
        ("policy_reports", "421200", "M07", 4.0, "2021-06-30", 2.0, 0.5, NOV),
    ]


def test_metric_catalog_lists_every_published_metric_with_chinese_names(built):
    # GIVEN the built project
    with duckdb.connect(str(built)) as conn:
        missing = conn.execute(
            "select distinct metric_id from metrics.plan_metric_values "
            "where metric_id not in (select metric_id from metrics.metric_catalog where name_zh <> '')"
        ).fetchall()
        catalog = conn.execute("select count(*) from metrics.metric_catalog").fetchone()[0]
    # THEN every published metric has a catalog row with a Chinese name, and all 28 are there
    assert missing == []
    assert catalog == 28


def test_project_builds_when_no_source_has_delivered(tmp_path, monkeypatch):
    # GIVEN a working database with no raw tables at all
    db = work_db(tmp_path)
    # WHEN the project is built
    result = build(tmp_path, db, monkeypatch)
    # THEN it succeeds, creates every raw table empty, and publishes no metric rows
    assert result["nodes"]
    with duckdb.connect(str(db)) as conn:
        raw = {
            r[0]
            for r in conn.execute(
                "select table_name from information_schema.tables where table_schema='raw'"
            ).fetchall()
        }
        values = conn.execute("select count(*) from metrics.plan_metric_values").fetchone()[0]
    assert raw == {t.raw_table.split(".")[1] for t in [*all_endpoints(), *all_file_tables()]}
    assert values == 0


def test_the_next_publish_reuses_dbts_saved_parse_and_stamps_its_own_publish_id(tmp_path, monkeypatch):
    # GIVEN a project built once (dbt saved its parse in the target folder)
    db = work_db(tmp_path)
    with duckdb.connect(str(db)) as conn:
        create_raw_tables(conn)
        fill_raw(conn)
    first_build = build(tmp_path, db, monkeypatch, as_of="2020-11-30T23:59:59+08:00")
    log = tmp_path / "dbt" / "logs" / "dbt.log"
    before = log.stat().st_size
    # WHEN the next publish builds with another publish id and "as of" day
    next_run = run_context("second-publish", datetime.now(UTC), "2020-12-31T23:59:59+08:00")
    second_build = dbt_build(Settings.from_env().with_data_dir(tmp_path), next_run)
    # THEN dbt did not parse the project again (run-specific values are data, not dbt vars)
    with log.open(encoding="utf-8") as fh:
        fh.seek(before)
        second = fh.read()
    assert re.search(r"Found \d+ models", second), "the second build is in the log"
    assert "Unable to do partial parsing" not in second
    # AND every published row carries the new publish id
    with duckdb.connect(str(db)) as conn:
        ids = conn.execute("select distinct publish_id from metrics.plan_metric_values").fetchall()
    assert ids == [(next_run.publish_id,)]
    # AND it left out the views and seeds the first build created unchanged, and nothing else
    built = {n["name"] for n in second_build["nodes"]}
    assert "stg_reference__regions" not in built and "hubei_divisions" not in built
    assert {"plan_metric_values", "int_metric_events", "stg_kechuang_orders__orders"} <= built
    # AND every data test ran again, those of the views it left out too (their data changed)
    tests = [{n["unique_id"] for n in b["nodes"] if n["resource_type"] == "test"} for b in (first_build, second_build)]
    assert tests[1] == tests[0] and len(tests[0]) > 30, sorted(tests[0] - tests[1])
