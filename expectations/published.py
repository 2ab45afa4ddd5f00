"""Expectation suites for the published tables, each beside the DuckDB query it validates.

These are the publish contract's rules that need the run or more than one table
(metrics.md, "What blocks a publish"): months within the plan period up to the run's
"as of" month, no negative value, ratios within [0, 1], province totals equal to their
prefectures, every metric of a delivering source published, catalog sources registered,
plan progress as of a published month, and the published facts dated within the plan period
like the metrics they make. Structural properties of a model — keys unique and
not null, codes that exist in the reference, accepted units and levels — are dbt's tests
on the model itself (dbt_project/models/marts/metrics/_metrics__models.yml), not repeated here.

Where a check needs the whole table DuckDB computes a small aggregate and the suite
validates that, so what crosses into pandas stays small at any scale. The suites are
generic over the metric catalog: ids, units and additivity come from the data.
Every expectation here blocks the publish when it fails.
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

from expectations.checks import Batch
from extract.sources import SOURCES
from settings.duck import relation_exists
from warehouse.run_context import RunContext

PMV = "metrics.plan_metric_values"
# the month columns of the published facts (dbt_project/models/marts/facts/)
FACT_MONTHS = {
    "fact_orders": ("placed_month", "accepted_month", "resolved_month"),
    "fact_roadshows": ("held_month",),
    "fact_roadshow_projects": ("held_month",),
    "fact_stop_days": ("visit_month",),
    "fact_rural_centre_reports": ("report_month",),
    "fact_ledger_activities": ("activity_month",),
}
ROW_QUERY = (
    f"select * from {PMV} where metric_id = '{{metric_id}}' and region_code = '{{region_code}}' order by period_month"
)


def batches(conn, ctx: RunContext) -> list[Batch]:
    values = conn.execute(
        f"select metric_id, region_code, period_month::varchar as period_month, unit, value from {PMV}"
    ).df()
    return [
        months(conn, ctx),
        Batch(
            "pmv_non_negative",
            PMV,
            values,
            _non_negative(),
            ["metric_id", "region_code", "period_month", "unit"],
            ROW_QUERY,
        ),
        Batch(
            "pmv_ratio",
            PMV,
            values[values["unit"] == "ratio"],
            _ratios(),
            ["metric_id", "region_code", "period_month"],
            ROW_QUERY,
        ),
        province_totals(conn),
        coverage(conn),
        catalog(conn),
        progress(conn, ctx),
        facts(conn, ctx),
    ]


def months(conn, ctx: RunContext) -> Batch:
    """Rows per metric and month: every month lies in the plan period up to the as-of month."""
    df = conn.execute(
        f"select metric_id, period_month::varchar as period_month, count(*) as n_rows from {PMV} group by all order by all"
    ).df()
    suite = gx.ExpectationSuite(name="plan_metric_values")
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="period_month", value_set=ctx.plan_months()))
    query = f"select * from {PMV} where metric_id = '{{metric_id}}' and period_month = '{{period_month}}' limit 20"
    return Batch("pmv", PMV, df, suite, ["metric_id", "period_month"], query)


def _non_negative() -> gx.ExpectationSuite:
    """Counts, person-times, money, hours, days and ratios alike: never below zero."""
    suite = gx.ExpectationSuite(name="plan_metric_values__non_negative")
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="value", min_value=0))
    return suite


def _ratios() -> gx.ExpectationSuite:
    suite = gx.ExpectationSuite(name="plan_metric_values__ratios")
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="value", min_value=0, max_value=1))
    return suite


def province_totals(conn) -> Batch:
    """One row per metric additive over months and regions, and month: the province row minus
    the sum of its prefectures and of the records coded at the province itself (ledger rows
    for 420000: "the province row covers everything"), rounded to the fen, must be zero."""
    df = conn.execute(
        f"""
        with additive as (select metric_id from metrics.metric_catalog where additive_over_months),
        province_records as (
            select metric_id, period_month, sum(value) as v from intermediate.int_metric_events
            where region_code = '420000' and metric_id in (select metric_id from additive) group by all
        )
        select p.metric_id, p.period_month::varchar as period_month,
               coalesce(max(p.value) filter (where p.region_level = 'province'), 0) as province_value,
               coalesce(sum(p.value) filter (where p.region_level = 'prefecture'), 0) as prefecture_sum,
               coalesce(any_value(pr.v), 0)::double as province_coded,
               round(province_value - prefecture_sum - province_coded, 2) + 0.0 as difference
        from {PMV} p
        left join province_records pr on pr.metric_id = p.metric_id and pr.period_month = p.period_month
        where p.metric_id in (select metric_id from additive)
        group by all order by all
        """
    ).df()
    suite = gx.ExpectationSuite(name="plan_metric_values__province_totals")
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="difference", min_value=0, max_value=0))
    query = (
        f"select region_level, region_code, value from {PMV} where metric_id = '{{metric_id}}' "
        "and period_month = '{period_month}' and region_level <> 'county' order by region_level desc, region_code"
    )
    return Batch(
        "pmv_totals",
        PMV,
        df,
        suite,
        ["metric_id", "period_month", "province_value", "prefecture_sum", "province_coded"],
        query,
    )


def delivered(conn) -> tuple[list[str], list[str]]:
    """(codes of sources whose raw tables hold rows, metric ids delivered by per-metric sources).

    A source with `coverage="metric"` (the S5 ledger: one table for many metrics) delivers a
    metric when a row of its first table names it with a value above zero."""
    existing = {
        r[0] for r in conn.execute("select table_schema || '.' || table_name from information_schema.tables").fetchall()
    }
    codes, metrics = [], []
    for source in SOURCES.values():
        tables = [t for t in source.raw_tables if t in existing]
        if source.coverage == "metric":
            if tables:
                rows = conn.execute(
                    f"select distinct metric_id from {tables[0]} where value > 0 and metric_id is not null"
                )
                metrics += [r[0] for r in rows.fetchall()]
        elif any(conn.execute(f"select exists (select 1 from {t})").fetchone()[0] for t in tables):
            codes.append(source.code)
    return codes, metrics


def coverage(conn) -> Batch:
    """One row per catalog metric whose source delivered data: it must have published rows."""
    codes, metrics = delivered(conn)
    df = conn.execute(
        f"""
        select c.metric_id, c.source, count(v.metric_id) as published_rows
        from metrics.metric_catalog c left join {PMV} v using (metric_id)
        where c.source in (select unnest(?::varchar[])) or c.metric_id in (select unnest(?::varchar[]))
        group by all order by all
        """,
        [codes, metrics],
    ).df()
    suite = gx.ExpectationSuite(name="plan_metric_values__coverage")
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="published_rows", min_value=1))
    query = "select * from intermediate.int_metric_events where metric_id = '{metric_id}' limit 20"
    return Batch("pmv_coverage", PMV, df, suite, ["metric_id", "source"], query)


def catalog(conn) -> Batch:
    """Every catalog metric comes from a source of the registry."""
    df = conn.execute("select metric_id, source from metrics.metric_catalog order by metric_id").df()
    suite = gx.ExpectationSuite(name="metric_catalog")
    codes = sorted(s.code for s in SOURCES.values())
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="source", value_set=codes))
    query = "select * from metrics.metric_catalog where metric_id = '{metric_id}'"
    return Batch("catalog", "metrics.metric_catalog", df, suite, ["metric_id"], query)


def progress(conn, ctx: RunContext) -> Batch:
    """Rows of metrics.plan_progress (one per target of the S5 目标 sheet)."""
    df = conn.execute("select * replace (as_of_month::varchar as as_of_month) from metrics.plan_progress").df()
    suite = gx.ExpectationSuite(name="plan_progress")
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="as_of_month", value_set=ctx.plan_months()))
    # a completion ratio above 1 is an over-achieved target, not an error; below 0 is
    for column in ["target_value", "actual_to_date", "completion_ratio"]:
        suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0))
    query = "select * from metrics.plan_progress where metric_id = '{metric_id}' and region_code = '{region_code}'"
    return Batch("progress", "metrics.plan_progress", df, suite, ["metric_id", "region_code"], query)


def facts(conn, ctx: RunContext) -> Batch:
    """One row per published fact, month column and month: the facts are the records the
    metrics count, so they lie in the plan period up to the as-of month as the metrics do."""
    parts = [
        f"select '{table}' as fact, '{column}' as month_column, {column}::varchar as period_month, "
        f"count(*) as n_rows from metrics.{table} where {column} is not null group by all"
        for table, columns in FACT_MONTHS.items()
        if relation_exists(conn, "metrics", table)
        for column in columns
    ]
    sql = (
        " union all ".join(parts)
        if parts
        else "select null as fact, null as month_column, null as period_month, 0 as n_rows where false"
    )
    df = conn.execute(f"select * from ({sql}) order by all").df()
    suite = gx.ExpectationSuite(name="published_facts")
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="period_month", value_set=ctx.plan_months()))
    query = "select * from metrics.{fact} where {month_column} = '{period_month}' limit 20"
    return Batch("facts", "metrics.fact_*", df, suite, ["fact", "month_column", "period_month"], query)
