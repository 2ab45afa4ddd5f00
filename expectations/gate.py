"""The quality gate between the working database and the published one.

Great Expectations validates DataFrames fetched from DuckDB (GX's SQL path on DuckDB
fails with `MetricResolutionError` in GX 1.24, see README): the published tables are small
(metrics x regions x months), and whole-table checks are pushed down as aggregates.
Every result, dbt tests included, lands in the quality ledger `meta.quality_checks`; a
failed blocking check raises `GateFailed` whose message names the check, the table, a
sample of failing values and how to investigate.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

log = logging.getLogger(__name__)

SOURCE_CONNECTIONS = {
    "S1": "scipop_platform",
    "S2": "kechuang_roadshows",
    "S3": "kechuang_orders",
    "S4": "rural_centre_reports",
    "S5": "plan_ledger",
}

LEDGER_DDL = """
create schema if not exists meta;
create table if not exists meta.quality_checks (
    run_id varchar, checked_at timestamptz, layer varchar, suite varchar, check_name varchar,
    table_name varchar, severity varchar, success boolean, observed varchar, sample varchar)
"""


@dataclass
class CheckResult:
    layer: str  # gx | dbt | extract
    suite: str
    check: str
    table: str
    success: bool
    severity: str = "block"  # block | warn
    observed: str = ""
    sample: list = field(default_factory=list)

    def describe(self) -> str:
        sample = f"; sample of failing values: {self.sample[:10]}" if self.sample else ""
        return f"[{self.layer}] {self.table}: {self.check} ({self.suite}) -> {self.observed}{sample}"


class GateFailed(RuntimeError):
    """A blocking check failed; the publish must not happen."""


def _expectation_label(cfg) -> str:
    kwargs = {k: v for k, v in cfg.kwargs.items() if k not in ("batch_id", "result_format") and v is not None}
    shown = {k: (v if not isinstance(v, list) or len(v) <= 6 else f"<{len(v)} values>") for k, v in kwargs.items()}
    return f"{cfg.type}({', '.join(f'{k}={v}' for k, v in shown.items())})"


def run_suite(context, name: str, df, suite, table: str) -> list[CheckResult]:
    import great_expectations as gx

    source = context.data_sources.add_or_update_pandas(f"ds_{name}")
    asset = source.add_dataframe_asset(name=f"asset_{name}")
    batch_def = asset.add_batch_definition_whole_dataframe(f"batch_{name}")
    suite = context.suites.add_or_update(suite)
    vd = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=f"vd_{name}", data=batch_def, suite=suite)
    )
    result = vd.run(batch_parameters={"dataframe": df}, result_format="SUMMARY")
    out = []
    for r in result.results:
        res = r.result or {}
        if "unexpected_count" in res:
            observed = f"{res.get('unexpected_count')} of {res.get('element_count')} rows unexpected"
        else:
            observed = json.dumps(res.get("observed_value"), default=str)
        sample = res.get("partial_unexpected_list") or []
        out.append(
            CheckResult(
                "gx",
                suite.name,
                _expectation_label(r.expectation_config),
                table,
                bool(r.success),
                observed=observed,
                sample=[_plain(s) for s in sample],
            )
        )
    return out


def plan_months(last_month: str, first_month: str = "2020-07-01") -> list[str]:
    """'YYYY-MM-01' for every month from the plan's start through last_month."""
    y, m = int(first_month[:4]), int(first_month[5:7])
    out = []
    while f"{y:04d}-{m:02d}-01" <= last_month:
        out.append(f"{y:04d}-{m:02d}-01")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value if isinstance(value, (int, float, str, bool, type(None))) else str(value)


def published_checks(conn: duckdb.DuckDBPyConnection, last_month: str) -> list[CheckResult]:
    """Validate the working database's metrics.* tables with the GX suites."""
    import great_expectations as gx

    from expectations import published

    context = gx.get_context(mode="ephemeral")
    region_codes = [
        r[0]
        for r in conn.execute(
            "select county_code from reference.hubei_divisions union select prefecture_code from reference.hubei_divisions "
            "union select '420000'"
        ).fetchall()
    ]
    metric_ids = [r[0] for r in conn.execute("select metric_id from metrics.metric_catalog").fetchall()]
    values = conn.execute("select * exclude (publish_id) from metrics.plan_metric_values").df()
    values["period_month"] = values["period_month"].astype(str)
    results = run_suite(
        context,
        "pmv",
        values,
        published.plan_metric_values(region_codes, metric_ids, plan_months(last_month)),
        "metrics.plan_metric_values",
    )
    additive = conn.execute(
        "select metric_id, region_code, period_month::varchar as period_month, value from metrics.plan_metric_values "
        "where unit in ('count', 'person_times', 'cny')"
    ).df()
    results += run_suite(context, "pmv_additive", additive, published.additive_values(), "metrics.plan_metric_values")
    ratios = conn.execute(
        "select metric_id, region_code, period_month::varchar as period_month, value from metrics.plan_metric_values "
        "where unit = 'ratio'"
    ).df()
    results += run_suite(context, "pmv_ratio", ratios, published.ratio_values(), "metrics.plan_metric_values")
    totals = conn.execute(
        """
        with additive as (select * from metrics.plan_metric_values where unit in ('count', 'person_times', 'cny'))
        select metric_id, period_month::varchar as period_month,
               coalesce(max(value) filter (where region_level = 'province'), 0)
               - coalesce(sum(value) filter (where region_level = 'prefecture'), 0) as difference
        from additive group by all
        """
    ).df()
    results += run_suite(
        context, "pmv_totals", totals, published.province_reconciliation(), "metrics.plan_metric_values"
    )
    sources_with_data = _sources_with_data(conn)
    coverage = conn.execute(
        f"""
        select c.metric_id, c.source, count(v.metric_id) as published_rows
        from metrics.metric_catalog c left join metrics.plan_metric_values v using (metric_id)
        where c.source in ({",".join("'" + s + "'" for s in sources_with_data) or "''"})
        group by all
        """
    ).df()
    results += run_suite(context, "pmv_coverage", coverage, published.metric_coverage(), "metrics.plan_metric_values")
    catalog = conn.execute("select * from metrics.metric_catalog").df()
    results += run_suite(context, "catalog", catalog, published.metric_catalog(metric_ids), "metrics.metric_catalog")
    return results


def _sources_with_data(conn) -> list[str]:
    exists = conn.execute(
        "select count(*) from information_schema.tables where table_schema = 'meta' and table_name = 'loaded_manifests'"
    ).fetchone()[0]
    if not exists:
        return []
    rows = conn.execute("select distinct source from meta.loaded_manifests where row_count > 0").fetchall()
    delivered = {r[0] for r in rows}
    return [s for s, conn_id in SOURCE_CONNECTIONS.items() if conn_id in delivered]


def dbt_checks(dbt_results: list[dict]) -> list[CheckResult]:
    """dbt test results (from the build task) as ledger entries."""
    out = []
    for r in dbt_results:
        if r["resource_type"] != "test":
            continue
        out.append(
            CheckResult(
                "dbt",
                "dbt build",
                r["name"],
                r.get("table") or "",
                r["status"] == "pass",
                severity="warn" if r["status"] == "warn" else "block",
                observed=f"status={r['status']} failures={r.get('failures')}",
            )
        )
    return out


def record(conn: duckdb.DuckDBPyConnection, run_id: str, results: list[CheckResult]) -> None:
    for stmt in filter(str.strip, LEDGER_DDL.split(";")):
        conn.execute(stmt)
    rows = [
        (
            run_id,
            r.layer,
            r.suite,
            r.check,
            r.table,
            r.severity,
            r.success,
            r.observed,
            json.dumps(r.sample, ensure_ascii=False, default=str),
        )
        for r in results
    ]
    if rows:
        conn.executemany("insert into meta.quality_checks values (?, now(), ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def run_gate(working_db: Path, run_id: str, last_month: str, dbt_results: list[dict] | None = None) -> dict:
    """Audit the working database; record every check; raise GateFailed if any blocking check failed."""
    with duckdb.connect(str(working_db)) as conn:
        results = dbt_checks(dbt_results or []) + published_checks(conn, last_month)
        conn.execute("begin transaction")
        record(conn, run_id, results)
        conn.execute("commit")
    failed = [r for r in results if not r.success and r.severity == "block"]
    warned = [r for r in results if not r.success and r.severity == "warn"]
    for r in warned:
        log.warning("quality warning: %s", r.describe())
    summary = {"checks_passed": sum(r.success for r in results), "checks_failed": len(failed), "warnings": len(warned)}
    if failed:
        lines = "\n".join(f"  - {r.describe()}" for r in failed)
        raise GateFailed(
            f"Quality gate failed: {len(failed)} blocking check(s); nothing was published and the "
            f"previous published file is unchanged.\n{lines}\n"
            f"Investigate: open the working database read-only (when no pipeline task is running):\n"
            f"  duckdb -readonly {working_db} \"select * from meta.quality_checks where run_id = '{run_id}' and not success\""
        )
    log.info("quality gate passed: %s", summary)
    return summary
