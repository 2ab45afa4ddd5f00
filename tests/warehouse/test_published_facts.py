"""The facts and dimensions of the published file: the records behind every metric.

Every published metric value is recomputed here from the published facts and dimensions
alone, by the definitions of metrics.md written afresh in SQL over the facts (not the
pipeline's event models), and must equal both the published value and the simulator's
truth. Every fact and dimension is scanned for the personal data the sources send: the
registry's personal fields, fields that are personal by their name, and the phone numbers
the simulated order platform sent for this world.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from extract.redact import personal_field
from extract.sources import SOURCES
from simulator import orders
from simulator.faults import PERSONAL_NAME
from simulator.world import WorldConfig
from tests.conftest import assert_matches_truth
from warehouse.reader_tables import FACT_TABLES

pytestmark = pytest.mark.timeout(600)

# One event per record and metric, from the facts, by metrics.md's catalog: (metric_id,
# region_code, period_month, value, entity_id).
EVENTS_SQL = """
with ledger_sums as (
    select a.metric_id, a.region_code, a.activity_month, a.value::double, a.metric_id
    from metrics.fact_ledger_activities a join metrics.metric_catalog c using (metric_id)
    where c.aggregation = 'sum'
),
stop_months as (
    select stop_id, host_county_code,
           unnest(generate_series(date_trunc('month', start_date), date_trunc('month', open_until),
                                  interval 1 month))::date as m
    from metrics.dim_stops where not is_cancelled and start_date <= open_until
),
report_months as (
    select unnest(generate_series(min(report_month), max(report_month), interval 1 month))::date as m
    from metrics.fact_rural_centre_reports
),
should_report as (
    select c.centre_id, c.county_code, r.m from metrics.rural_centre_registry c
    join report_months r on c.opened_on <= last_day(r.m) where c.is_active
)
select 'roadshows_held', hub_city_code, held_month, 1.0, roadshow_id from metrics.fact_roadshows
union all select 'roadshow_enterprises_reached', hub_city_code, held_month, coalesce(enterprises_attending, 0),
    roadshow_id from metrics.fact_roadshows
union all select 'roadshow_projects_pitched', hub_city_code, held_month, 1, project_id
    from metrics.fact_roadshow_projects
union all select 'roadshow_contracts_signed', hub_city_code, held_month, coalesce(signed_contracts, 0), project_id
    from metrics.fact_roadshow_projects
union all select 'roadshow_contract_amount_cny', hub_city_code, held_month, coalesce(contract_amount_cny, 0),
    project_id from metrics.fact_roadshow_projects
union all select 'orders_placed', county_code, placed_month, 1, order_id from metrics.fact_orders
union all select 'orders_sme_share', county_code, placed_month, case when enterprise_size in ('small', 'micro')
    then 1 else 0 end, order_id from metrics.fact_orders
union all select 'orders_accepted', county_code, accepted_month, 1, order_id from metrics.fact_orders
    where accepted_at is not null
union all select 'orders_acceptance_hours_median', county_code, accepted_month,
    (epoch(accepted_at) - epoch(placed_at)) / 3600.0, order_id from metrics.fact_orders where accepted_at is not null
union all select 'orders_resolved', county_code, resolved_month, 1, order_id from metrics.fact_orders
    where status in ('resolved', 'closed') and resolved_at is not null
union all select 'orders_cast_paid_cny', county_code, resolved_month, cast_paid_cny, order_id
    from metrics.fact_orders where status in ('resolved', 'closed') and resolved_at is not null
union all select 'orders_tech_transaction_cny', county_code, resolved_month, tech_transaction_cny, order_id
    from metrics.fact_orders where status in ('resolved', 'closed') and resolved_at is not null
union all select 'mobile_museum_stops_open', host_county_code, m, 1, stop_id from stop_months
union all select 'mobile_museum_visitors', host_county_code, visit_month, visitors, stop_id
    from metrics.fact_stop_days
union all select 'mobile_museum_student_visitors', host_county_code, visit_month, student_visitors, stop_id
    from metrics.fact_stop_days
union all select 'rural_centres_reporting', county_code, report_month, 1, centre_id
    from metrics.fact_rural_centre_reports
union all select 'rural_centre_student_visits', county_code, report_month, coalesce(student_visits, 0), centre_id
    from metrics.fact_rural_centre_reports
union all select 'rural_centre_public_visits', county_code, report_month, coalesce(public_visits, 0), centre_id
    from metrics.fact_rural_centre_reports
union all select 'rural_centre_activities', county_code, report_month, coalesce(activities, 0), centre_id
    from metrics.fact_rural_centre_reports
union all select 'rural_centre_report_rate', s.county_code, s.m,
    case when exists (select 1 from metrics.fact_rural_centre_reports f
                      where f.centre_id = s.centre_id and f.report_month = s.m) then 1 else 0 end, s.centre_id
    from should_report s
union all select * from ledger_sums
union all select 'literacy_survey_prefectures', r.prefecture_code, a.activity_month, 1, r.prefecture_code
    from metrics.fact_ledger_activities a join metrics.regions r using (region_code)
    where a.metric_id = 'literacy_survey_prefectures' and a.value > 0 and r.level <> 'province'
"""

# Each level recomputed from the events: a county counts at itself, its prefecture and the
# province; a prefecture-level code at itself and the province (metrics.md, roll-up rule).
VALUES_SQL = f"""
with events (metric_id, region_code, period_month, value, entity_id) as ({EVENTS_SQL}),
rollup as (
    select region_code, region_code as to_code, level as to_level from metrics.regions
    union all select region_code, prefecture_code, 'prefecture' from metrics.regions where level = 'county'
    union all select region_code, '420000', 'province' from metrics.regions where level <> 'province'
),
cells as (
    select e.metric_id, r.to_code, r.to_level, e.period_month, c.aggregation, c.unit,
        case c.aggregation
            when 'sum' then sum(e.value)
            when 'mean' then avg(e.value)
            when 'median' then median(e.value)
            when 'distinct_count' then count(distinct e.entity_id)
            when 'report_rate' then count(distinct e.entity_id) filter (where e.value = 1)
                / nullif(count(distinct e.entity_id), 0)
        end as value
    from events e join rollup r using (region_code) join metrics.metric_catalog c using (metric_id)
    group by e.metric_id, r.to_code, r.to_level, e.period_month, c.aggregation, c.unit
),
spans as (
    select metric_id, unit, min(period_month) as first_month, max(period_month) as last_month from cells
    where to_level = 'province' and aggregation in ('sum', 'distinct_count') group by all
),
zeros as (
    select s.metric_id, '420000', 'province', m::date, 'sum', s.unit, 0.0
    from spans s, generate_series(s.first_month, s.last_month, interval 1 month) as t(m)
    where not exists (select 1 from cells c where c.metric_id = s.metric_id and c.to_code = '420000'
                      and c.period_month = m::date)
)
select metric_id, to_code, strftime(period_month, '%Y-%m-%d'), to_level, value::double, unit
from (select * from cells union all select * from zeros) where value is not null
"""


def _recomputed(conn) -> dict:
    rows = conn.execute(VALUES_SQL).fetchall()
    return {(m, r, p): (level, value, unit, None) for m, r, p, level, value, unit in rows}


def test_every_published_metric_value_is_recomputed_from_the_facts(published_world):
    # GIVEN the published file of a small world (its metrics already equal the truth)
    with duckdb.connect(str(published_world.published_db), read_only=True) as conn:
        # WHEN every metric is recomputed from the published facts and dimensions alone
        recomputed = _recomputed(conn)
    published = published_world.published_values()
    # THEN each published value is found, equal, and nothing more; and so is the truth
    assert_matches_truth(published, {key: (level, value) for key, (level, value, _, _) in recomputed.items()})
    assert_matches_truth(recomputed, published_world.truth)
    assert {m for m, _, _ in recomputed} == {m for m, _, _ in published_world.truth}


def test_the_facts_hold_exactly_the_records_the_metrics_count(published_world):
    # GIVEN the published facts
    with duckdb.connect(str(published_world.published_db), read_only=True) as conn:
        counts = dict(
            conn.execute(
                "select 'orders', count(*) from metrics.fact_orders "
                "union all select 'cancelled', count(*) from metrics.fact_orders where status = 'cancelled' "
                "union all select 'roadshows', count(*) from metrics.fact_roadshows "
                "union all select 'projects', count(*) from metrics.fact_roadshow_projects"
            ).fetchall()
        )
    truth = published_world.truth
    # THEN the province's totals over all months are the facts' row counts (no cancelled order,
    # no roadshow that was not held)
    total = lambda metric: round(sum(v for (m, r, _), (_, v) in truth.items() if m == metric and r == "420000"))  # noqa: E731
    assert counts["orders"] == total("orders_placed") > 0
    assert counts["cancelled"] == 0
    assert counts["roadshows"] == total("roadshows_held") > 0
    assert counts["projects"] > 0


def test_no_fact_or_dimension_holds_personal_data(published_world):
    # GIVEN the personal fields every source sends (the registry), and the phones this world sent
    personal_names = {
        f.lower() for s in SOURCES.values() for f in (*s.personal, *(p for e in s.endpoints for p in e.personal))
    }
    cfg = WorldConfig(published_world.SEED, published_world.SCALE)
    phones = {v.body["contact_phone"] for v in orders.order_versions(cfg) if v.body.get("contact_phone")}
    assert len(phones) > 10
    with duckdb.connect(str(published_world.published_db), read_only=True) as conn:
        tables = {
            t
            for (t,) in conn.execute("select table_name from duckdb_tables() where schema_name = 'metrics'").fetchall()
        }
        scanned = (*FACT_TABLES, "source_runs")  # and the landing runs the facts name (value lineage)
        assert set(scanned) <= tables
        for table in scanned:
            columns = [
                c
                for (c,) in conn.execute(
                    "select column_name from duckdb_columns() where schema_name = 'metrics' and table_name = ?",
                    [table],
                ).fetchall()
            ]
            # THEN no column is a personal field, personal by its name, or a bag of unknown fields
            assert not [c for c in columns if c.lower() in personal_names or personal_field(c)], table
            assert not [c for c in columns if "extra" in c or c.startswith("_") or c.startswith("enterprise_name")]
            # AND no value is a phone the sources sent, a mobile number or the planted name
            text = str(conn.execute(f"select * from metrics.{table}").fetchall())
            assert not [p for p in phones if p in text], table
            assert not re.search(r"(?<!\d)1[3-9]\d{9}(?!\d)", text), table
            assert PERSONAL_NAME not in text, table


def test_every_fact_and_dimension_explains_itself_chinese_first(published_world):
    with duckdb.connect(str(published_world.published_db), read_only=True) as conn:
        tables = dict(
            conn.execute(
                "select table_name, comment from duckdb_tables() where schema_name = 'metrics' "
                "and list_contains(?, table_name)",
                [list(FACT_TABLES)],
            ).fetchall()
        )
        columns = conn.execute(
            "select table_name, column_name, comment from duckdb_columns() where schema_name = 'metrics' "
            "and list_contains(?, table_name)",
            [list(FACT_TABLES)],
        ).fetchall()
    cjk = re.compile(r"^[\u4e00-\u9fff]")
    assert set(tables) == set(FACT_TABLES)
    assert all(c and cjk.match(c) and " — " in c for c in tables.values()), tables
    assert [(t, c) for t, c, comment in columns if not (comment and cjk.match(comment) and " — " in comment)] == []


# the example of docs/readers.md on the facts
ORDERS_BY_INDUSTRY_SQL = """
select o.industry, count(*) as orders,
       median(epoch(o.resolved_at - o.placed_at) / 86400) filter (where o.is_resolved) as median_days_to_resolve
from metrics.fact_orders o
join metrics.regions r on r.region_code = o.county_code
where r.prefecture_code = '420100'
group by o.industry
order by orders desc, o.industry
"""


def test_the_readers_example_on_the_facts_adds_up_to_the_truth(published_world):
    # GIVEN the query docs/readers.md shows on the facts
    readers = (Path(__file__).resolve().parents[2] / "docs" / "readers.md").read_text(encoding="utf-8")
    assert " ".join(ORDERS_BY_INDUSTRY_SQL.split()) in " ".join(readers.split()), "docs/readers.md shows this query"
    # WHEN it runs on the published file
    with duckdb.connect(str(published_world.published_db), read_only=True) as conn:
        rows = conn.execute(ORDERS_BY_INDUSTRY_SQL).fetchall()
    # THEN its orders add up to the truth's orders placed in 武汉市 over all months, and the
    # resolved orders' median days are durations
    wuhan = sum(v for (m, r, _), (_, v) in published_world.truth.items() if m == "orders_placed" and r == "420100")
    assert len(rows) > 1 and sum(n for _, n, _ in rows) == round(wuhan) > 0
    assert all(days is None or days >= 0 for _, _, days in rows)
