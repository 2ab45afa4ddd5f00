"""Why is this number X? — the lineage of one published value, from the published file only.

One value is a metric, a region and a month of `metrics.plan_metric_values`. Its explanation:

- the facts that make it: `metrics.metric_facts` (seeds/metric_fact_rules.csv, the one home of
  how each metric follows from the facts) names the fact table, its region and month columns,
  a row filter, what each row contributes and how the rows aggregate; `facts_sql` turns that
  row into one parameterised query ($region, $month) over the published file;
- the check: the same rows aggregated in SQL (`total`), shown beside the published value
  (the page compares, it never recomputes the metric it shows: the value is the published one);
- where each fact came from: its landing run (`source_manifest_id` → `metrics.source_runs`:
  source, endpoint, landed and loaded times) and, for a spreadsheet row, its file (name shown
  safely, as the raw layer holds it), sheet and row;
- the runs: those landing runs, and the publish that shipped the value (`publish_log`:
  publish id, time, dbt invocation; `publish_context`: the "as of" day);
- what was set aside for that metric, region and month: `metrics.set_aside_records` (records a
  staging rule set aside, with the reason's key) joined to `quarantine_reasons`.

A region matches a fact when the fact's region is that region, or one of its counties, or any
region for the province `420000` (metrics.md's roll-up rule).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

PROVINCE = "420000"
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
REGION_MATCH = "(t.{region} = $region or r.prefecture_code = $region or $region = '{province}')"
FACTS_LIMIT = 5000  # rows the page shows (the download holds them all)

AGGREGATES = {
    "sum": "sum(fact_value)",
    "mean": "avg(fact_value)",
    "median": "median(fact_value)",
    "distinct_count": "count(distinct fact_entity)",
    "report_rate": "count(distinct fact_entity) filter (where fact_value = 1) / nullif(count(distinct fact_entity), 0)",
}


@dataclass
class Explanation:
    """Everything the drill-down shows for one value."""

    metric_id: str
    region_code: str
    month: date
    rule: dict
    published: dict | None  # value, unit, region_level, publish_id (None: no such published value)
    facts: pd.DataFrame  # fact_value, fact_entity, provenance, then the fact's own columns
    total: float | None  # the facts aggregated as the catalog says
    fact_rows: int
    set_aside: pd.DataFrame
    runs: pd.DataFrame  # landing runs behind the facts, with how many facts each gave
    publish: dict = field(default_factory=dict)
    ms: float = 0.0

    @property
    def adds_up(self) -> bool:
        """Whether the facts aggregate to the published value (to 1e-6, relative)."""
        if self.published is None:
            return False
        value, total = self.published["value"], self.total if self.total is not None else 0.0
        return abs(float(value) - float(total)) <= 1e-6 * max(1.0, abs(float(value)))


def rule(r, metric_id: str) -> dict | None:
    """The metric's row of `metrics.metric_facts`, or None (an older file, an unknown metric)."""
    if not r.has("metric_facts"):
        return None
    df = r.df("select * from metrics.metric_facts where metric_id = ?", [metric_id])
    return None if df.empty else df.iloc[0].to_dict()


def _names(rule_row: dict) -> tuple[str, str, str | None]:
    table, region, month = rule_row["fact_table"], rule_row["region_column"], rule_row.get("month_column")
    month = None if month is None or (isinstance(month, float) and pd.isna(month)) or month == "" else month
    for name in (table, region, month):
        if name is not None and not _NAME.match(name):
            raise ValueError(f"metric_facts names a column or table that is not a plain name: {name!r}")
    return table, region, month


def facts_sql(rule_row: dict, provenance: bool = True) -> str:
    """The rows of the fact table that make the metric's value at $region and $month: each with
    what it contributes (fact_value), what it counts once (fact_entity) and, when the fact
    carries `source_manifest_id`, its landing run's source, endpoint and times."""
    table, region, month = _names(rule_row)
    where = [f"({rule_row['row_filter']})", REGION_MATCH.format(region=region, province=PROVINCE)]
    if month:
        where.insert(0, f"t.{month} = $month")
    runs = (
        "s.source as source, s.endpoint as source_endpoint, s.run_key as source_run, "
        "s.landed_at as source_landed_at, s.loaded_at as source_loaded_at, "
        if provenance
        else ""
    )
    join = "left join metrics.source_runs as s on s.manifest_id = t.source_manifest_id" if provenance else ""
    return (
        f"select ({rule_row['value_expression']}) as fact_value, ({rule_row['entity_expression']}) as fact_entity, "
        f"{runs}t.* from metrics.{table} as t "
        f"left join metrics.regions as r on r.region_code = t.{region} {join} "
        f"where {' and '.join(where)}"
    )


def _has_provenance(r, table: str) -> bool:
    return bool(
        r.rows(
            "select count(*) from duckdb_columns() where database_name = 'published' and schema_name = 'metrics' "
            "and table_name = ? and column_name = 'source_manifest_id'",
            [table],
        )[0][0]
    ) and r.has("source_runs")


def published_value(r, metric_id: str, region_code: str, month: date) -> dict | None:
    rows = r.rows(
        "select value, unit, region_level, publish_id from metrics.plan_metric_values "
        "where metric_id = ? and region_code = ? and period_month = ?",
        [metric_id, region_code, month],
    )
    return dict(zip(("value", "unit", "region_level", "publish_id"), rows[0], strict=True)) if rows else None


SET_ASIDE_SQL = """
select s.dataset, s.record_key, s.region_code, s.month_column, s.period_month, s.column_name, s.reason_key,
       k.text_zh as reason_zh, k.text_en as reason_en, s.source_file, s.source_sheet, s.source_row,
       s.source_manifest_id, u.landed_at as source_landed_at, u.loaded_at as source_loaded_at
from metrics.set_aside_records as s
left join metrics.regions as r on r.region_code = s.region_code
left join metrics.quarantine_reasons as k on k.reason_key = s.reason_key
left join metrics.source_runs as u on u.manifest_id = s.source_manifest_id
where list_contains(string_split($datasets, '|'), s.dataset)
  and (s.metric_id is null or s.metric_id = $metric)
  and s.period_month = $month
  and ($month_column is null or s.month_column = $month_column)
  and (s.region_code = $region or r.prefecture_code = $region or $region = '420000')
order by s.dataset, s.record_key
"""


def set_aside(r, rule_row: dict, region_code: str, month: date) -> pd.DataFrame:
    """Records a staging rule set aside that would have counted toward this value, with the reason."""
    if not all(r.has(t) for t in ("set_aside_records", "quarantine_reasons", "source_runs")):
        return pd.DataFrame()
    _, _, month_column = _names(rule_row)
    params = {
        "datasets": rule_row.get("set_aside_datasets") or "",
        "metric": rule_row["metric_id"],
        "month": month,
        "month_column": month_column,
        "region": region_code,
    }
    return r.df(SET_ASIDE_SQL, params)


def publish_of(r, publish_id: str | None) -> dict:
    """The publish that shipped a value: id, time, dbt invocation, and the data's "as of" day."""
    rows = r.rows(
        "select publish_id, published_at, dbt_invocation_id, checks_passed, checks_failed from metrics.publish_log "
        "where publish_id = ? or ? is null order by published_at desc limit 1",
        [publish_id, publish_id],
    )
    if not rows:
        return {}
    info = dict(
        zip(("publish_id", "published_at", "dbt_invocation_id", "checks_passed", "checks_failed"), rows[0], strict=True)
    )
    if r.has("publish_context"):
        ctx = r.rows("select as_of_date from metrics.publish_context limit 1")
        info["as_of_date"] = ctx[0][0] if ctx else None
    return info


def explain(r, metric_id: str, region_code: str, month: date) -> Explanation | None:
    """The whole explanation of one value (None when the file has no metric_facts for it)."""
    started = time.perf_counter()
    rule_row = rule(r, metric_id)
    if rule_row is None:
        return None
    provenance = _has_provenance(r, rule_row["fact_table"])
    sql = facts_sql(rule_row, provenance)
    params = {"region": region_code, "month": month}
    aggregate = AGGREGATES[rule_row["aggregation"]]
    cur = r.cursor()
    try:
        n, total = cur.execute(f"select count(*), ({aggregate})::double from ({sql})", params).fetchone()
    finally:
        cur.close()
    if total is None and rule_row["aggregation"] in ("sum", "distinct_count"):
        total = 0.0  # no facts: the province's zero row of an additive metric
    facts = r.df(f"{sql} order by 2, 1 limit {FACTS_LIMIT}", params)
    runs = pd.DataFrame()
    if provenance:
        runs = r.df(
            "select source, source_endpoint, source_manifest_id, source_run, source_landed_at, source_loaded_at, "
            f"count(*) as facts from ({sql}) group by all order by source_landed_at, source_manifest_id",
            params,
        )
    published = published_value(r, metric_id, region_code, month)
    return Explanation(
        metric_id=metric_id,
        region_code=region_code,
        month=month,
        rule=rule_row,
        published=published,
        facts=facts,
        total=total,
        fact_rows=n,
        set_aside=set_aside(r, rule_row, region_code, month),
        runs=runs,
        publish=publish_of(r, published["publish_id"] if published else None),
        ms=(time.perf_counter() - started) * 1000,
    )


def all_facts(r, metric_id: str, region_code: str, month: date) -> pd.DataFrame:
    """Every fact row of the value (for the CSV download; the page shows the first FACTS_LIMIT)."""
    rule_row = rule(r, metric_id)
    if rule_row is None:
        return pd.DataFrame()
    sql = facts_sql(rule_row, _has_provenance(r, rule_row["fact_table"]))
    return r.df(f"{sql} order by 2, 1", {"region": region_code, "month": month})
