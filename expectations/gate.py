"""The quality gate between the working database and the published one.

Great Expectations validates DataFrames fetched from DuckDB (GX's SQL path on DuckDB
fails with `MetricResolutionError` in GX 1.24, see README). The published tables are
bounded by metrics x regions x months, so they are fetched whole; every check that needs a
whole table, and everything on the raw layer, is computed as a small aggregate in DuckDB
first. All suites run in one ephemeral GX context (a Checkpoint would pass the same batch
to every validation, and each suite here has its own DataFrame).

Every result — dbt's tests, GX expectations, the extraction quarantine counts of the runs
loaded since the last gate — lands in the quality ledger `meta.quality_checks`. An HTML
validation report (GX's own renderer) is written per run under
`$PLAN_METRICS_DATA_DIR/quality/<run>/index.html`. A failed blocking check raises
`GateFailed`, whose message names the check, the table, a sample of failing values and the
queries to investigate; warnings (freshness, volume, quarantines) are logged and recorded
and never block.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb

from warehouse import paths

log = logging.getLogger(__name__)

BEIJING = timezone(timedelta(hours=8))
SOURCE_CONNECTIONS = {
    "S1": "scipop_platform",
    "S2": "kechuang_roadshows",
    "S3": "kechuang_orders",
    "S4": "rural_centre_reports",
    "S5": "plan_ledger",
}
PMV = "metrics.plan_metric_values"

LEDGER_DDL = """
create schema if not exists meta;
create table if not exists meta.quality_checks (
    run_id varchar, checked_at timestamptz, layer varchar, suite varchar, check_name varchar,
    table_name varchar, severity varchar, success boolean, observed varchar, sample varchar);
alter table meta.quality_checks add column if not exists observed_value double
"""
LEDGER_COLUMNS = (
    "run_id, checked_at, layer, suite, check_name, table_name, severity, success, observed, sample, observed_value"
)


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
    observed_value: float | None = None
    investigate: str = ""  # a query that shows the failing rows

    def describe(self) -> str:
        sample = f"; failing values (sample): {json.dumps(self.sample[:5], ensure_ascii=False, default=str)}"
        return f"[{self.layer}] {self.table}: {self.check} ({self.suite}) -> {self.observed}" + (
            sample if self.sample else ""
        )


@dataclass
class Batch:
    """One DataFrame, the suite that validates it, and how to find failing rows again."""

    name: str
    table: str
    df: object  # pandas.DataFrame
    suite: object  # gx.ExpectationSuite
    index: list[str]  # columns shown with each failing value
    investigate: str = ""  # SQL template, formatted with the first failing row


class GateFailed(RuntimeError):
    """A blocking check failed; the publish must not happen."""


# --- what is validated ----------------------------------------------------------------
def plan_months(last_month: str, first_month: str = "2020-07-01") -> list[str]:
    """'YYYY-MM-01' for every month from the plan's start through last_month."""
    y, m = int(first_month[:4]), int(first_month[5:7])
    out = []
    while f"{y:04d}-{m:02d}-01" <= last_month:
        out.append(f"{y:04d}-{m:02d}-01")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _has_table(conn, schema: str, table: str) -> bool:
    return bool(
        conn.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
        ).fetchone()[0]
    )


def _columns(conn, schema: str, table: str) -> set[str]:
    return {
        r[0]
        for r in conn.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchall()
    }


def delivering_sources(conn) -> tuple[list[str], list[str]]:
    """(sources S1..S4 whose raw tables hold rows, S5 ledger metric ids with a positive value).

    The S5 ledger is one table for many metrics: a ledger metric "delivered data" when the
    ledger has a row of it with a value above zero.
    """
    from expectations.raw import raw_tables

    sources, ledger_metrics = set(), []
    for spec in raw_tables(conn):
        if conn.execute(f"select exists (select 1 from {spec.raw_table})").fetchone()[0]:
            sources.add(spec.source)
    if _has_table(conn, "raw", "plan_ledger__activities"):
        ledger_metrics = [
            r[0]
            for r in conn.execute(
                "select distinct metric_id from raw.plan_ledger__activities where value > 0 and metric_id is not null"
            ).fetchall()
        ]
    codes = [code for code, conn_id in SOURCE_CONNECTIONS.items() if conn_id in sources and code != "S5"]
    return codes, ledger_metrics


def published_batches(conn: duckdb.DuckDBPyConnection, last_month: str) -> list[Batch]:
    from expectations import published

    region_codes = [
        r[0]
        for r in conn.execute(
            "select county_code from reference.hubei_divisions union select prefecture_code "
            "from reference.hubei_divisions union select '420000'"
        ).fetchall()
    ]
    metric_ids = [r[0] for r in conn.execute("select metric_id from metrics.metric_catalog").fetchall()]
    months = plan_months(last_month)
    key = ["metric_id", "region_code", "period_month"]
    row_query = f"select * from {PMV} where metric_id = '{{metric_id}}' and region_code = '{{region_code}}' order by period_month"
    values = conn.execute(
        f"select * exclude (publish_id) replace (period_month::varchar as period_month) from {PMV}"
    ).df()
    batches = [
        Batch("pmv", PMV, values, published.plan_metric_values(region_codes, metric_ids, months), key, row_query)
    ]
    nonneg = conn.execute(
        f"select metric_id, region_code, period_month::varchar as period_month, unit, value from {PMV} "
        f"where unit in ({','.join(repr(u) for u in published.ADDITIVE_UNITS)})"
    ).df()
    batches.append(Batch("pmv_non_negative", PMV, nonneg, published.additive_values(), [*key, "unit"], row_query))
    ratios = conn.execute(
        f"select metric_id, region_code, period_month::varchar as period_month, value from {PMV} where unit = 'ratio'"
    ).df()
    batches.append(Batch("pmv_ratio", PMV, ratios, published.ratio_values(), key, row_query))
    # Summed metrics only: distinct counts, medians and ratios are recomputed per level and
    # legitimately differ from the sum of their prefectures.
    if _has_table(conn, "reference", "metric_definitions") and "aggregation" in _columns(
        conn, "reference", "metric_definitions"
    ):
        summed = "select metric_id from reference.metric_definitions where aggregation = 'sum'"
    else:
        summed = f"select distinct metric_id from {PMV} where unit in ('count', 'person_times', 'cny')"
    # Records coded at the province itself (ledger rows for 420000) count in the province row
    # only: "the province row covers everything" (metrics.md), so they are allowed for.
    if _has_table(conn, "intermediate", "int_metric_events"):
        province_records = (
            "select metric_id, period_month, sum(value) as v from intermediate.int_metric_events "
            "where region_code = '420000' group by all"
        )
    else:
        province_records = "select null::varchar as metric_id, null::date as period_month, 0 as v where false"
    totals = conn.execute(
        f"""
        with province_records as ({province_records})
        select p.metric_id, p.period_month::varchar as period_month,
               coalesce(max(p.value) filter (where p.region_level = 'province'), 0) as province_value,
               coalesce(sum(p.value) filter (where p.region_level = 'prefecture'), 0) as prefecture_sum,
               coalesce(any_value(pr.v), 0)::double as province_coded,
               round(province_value - prefecture_sum - province_coded, 2) + 0.0 as difference
        from {PMV} p
        left join province_records pr on pr.metric_id = p.metric_id and pr.period_month = p.period_month
        where p.metric_id in ({summed})
        group by all order by all
        """
    ).df()
    batches.append(
        Batch(
            "pmv_totals",
            PMV,
            totals,
            published.province_reconciliation(),
            ["metric_id", "period_month", "province_value", "prefecture_sum", "province_coded"],
            f"select region_level, region_code, value from {PMV} where metric_id = '{{metric_id}}' "
            "and period_month = '{period_month}' and region_level <> 'county' order by region_level desc, region_code",
        )
    )
    sources, ledger_metrics = delivering_sources(conn)
    coverage = conn.execute(
        f"""
        select c.metric_id, c.source, count(v.metric_id) as published_rows
        from metrics.metric_catalog c left join {PMV} v using (metric_id)
        where c.source in (select unnest(?::varchar[])) or c.metric_id in (select unnest(?::varchar[]))
        group by all order by all
        """,
        [sources, ledger_metrics],
    ).df()
    batches.append(
        Batch(
            "pmv_coverage",
            PMV,
            coverage,
            published.metric_coverage(),
            ["metric_id", "source"],
            "select * from intermediate.int_metric_events where metric_id = '{metric_id}' limit 20",
        )
    )
    catalog = conn.execute("select * from metrics.metric_catalog").df()
    batches.append(
        Batch(
            "catalog",
            "metrics.metric_catalog",
            catalog,
            published.metric_catalog(metric_ids),
            ["metric_id"],
            "select * from metrics.metric_catalog where metric_id = '{metric_id}'",
        )
    )
    if _has_table(conn, "metrics", "plan_progress"):  # added by the S5 targets work; checked when present
        progress = conn.execute(
            "select * replace (as_of_month::varchar as as_of_month) from metrics.plan_progress"
        ).df()
        batches.append(
            Batch(
                "progress",
                "metrics.plan_progress",
                progress,
                published.plan_progress(region_codes, metric_ids, months),
                ["metric_id", "region_code"],
                "select * from metrics.plan_progress where metric_id = '{metric_id}' and region_code = '{region_code}'",
            )
        )
    return batches


def raw_batches(conn: duckdb.DuckDBPyConnection, as_of: datetime) -> list[Batch]:
    from expectations import raw

    return [
        Batch(
            "raw_freshness",
            "raw (newest record per source)",
            raw.freshness_frame(conn, as_of),
            raw.freshness(),
            ["source", "newest_record", "interval_end", "age_hours"],
            "select source, endpoint, max(watermark_after), max(loaded_at) from meta.extract_runs "
            "where source = '{source}' group by all",
        ),
        Batch(
            "raw_volume",
            "meta.extract_runs",
            raw.volume_frame(conn),
            raw.volume(),
            ["source", "endpoint", "manifest_id", "latest_records", "median_before"],
            "select manifest_id, interval_start, interval_end, records_received, loaded_at from meta.extract_runs "
            "where source = '{source}' and endpoint = '{endpoint}' order by loaded_at desc limit 12",
        ),
        Batch(
            "raw_keys",
            "raw (key + content hash per table)",
            raw.key_frame(conn),
            raw.keys(),
            ["table_name", "examples"],
            "select * from {table_name} -- versions listed in examples appear twice",
        ),
        Batch(
            "raw_required",
            "raw (latest version per key)",
            raw.required_frame(conn),
            raw.required_fields(),
            ["table_name", "field"],
            "select * from {table_name} where {field} is null",
        ),
    ]


# --- running the suites ---------------------------------------------------------------
def _context():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no tqdm bars in task logs
    return context


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    return value if isinstance(value, (int, float, str, bool, type(None))) else str(value)


def _label(cfg) -> str:
    kwargs = {k: v for k, v in cfg.kwargs.items() if k not in ("batch_id", "result_format") and v is not None}
    shown = {k: (v if not isinstance(v, list) or len(v) <= 6 else f"<{len(v)} values>") for k, v in kwargs.items()}
    return f"{cfg.type}({', '.join(f'{k}={v}' for k, v in shown.items())})"


def _investigate(template: str, sample: list) -> str:
    if not template or not sample or not isinstance(sample[0], dict):
        return ""
    return template.format_map(defaultdict(str, {k: v for k, v in sample[0].items()}))


def validate(context, batch: Batch):
    """Run one suite on its DataFrame; (ledger entries, GX validation result)."""
    import great_expectations as gx

    source = context.data_sources.add_or_update_pandas(f"ds_{batch.name}")
    asset = source.add_dataframe_asset(name=f"asset_{batch.name}")
    definition = asset.add_batch_definition_whole_dataframe(f"batch_{batch.name}")
    suite = context.suites.add_or_update(batch.suite)
    vd = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=f"vd_{batch.name}", data=definition, suite=suite)
    )
    index = [c for c in batch.index if c in batch.df.columns]
    result = vd.run(
        batch_parameters={"dataframe": batch.df},
        result_format={"result_format": "SUMMARY", "unexpected_index_column_names": index},
    )
    out = []
    for r in result.results:
        res = r.result or {}
        exc = (r.exception_info or {}).get("exception_message") if isinstance(r.exception_info, dict) else None
        value = None
        if exc:
            observed = f"error: {exc}"
        elif "unexpected_count" in res:
            value = res.get("unexpected_count")
            observed = f"{value} of {res.get('element_count')} rows unexpected"
        else:
            value = res.get("observed_value")
            observed = json.dumps(_plain(value), default=str)
        sample = res.get("partial_unexpected_index_list") or res.get("partial_unexpected_list") or []
        sample = [_plain(s) for s in sample[:10]]
        severity = getattr(r.expectation_config.severity, "value", "critical")
        out.append(
            CheckResult(
                "gx",
                suite.name,
                _label(r.expectation_config),
                batch.table,
                bool(r.success),
                severity="warn" if severity == "warning" else "block",
                observed=observed,
                sample=sample,
                observed_value=float(value) if isinstance(value, (int, float)) else None,
                investigate="" if r.success else _investigate(batch.investigate, sample),
            )
        )
    return out, result


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
                observed_value=float(r["failures"]) if isinstance(r.get("failures"), (int, float)) else None,
            )
        )
    return out


def extraction_checks(conn: duckdb.DuckDBPyConnection) -> list[CheckResult]:
    """Quarantine counts of every extract run loaded since the previous gate (warn only)."""
    if not _has_table(conn, "meta", "extract_runs"):
        return []
    rows = conn.execute(
        """
        select e.manifest_id, e.source, e.endpoint, e.records_received, e.quarantined,
               (select list({'column': q.column_name, 'reason': q.reason, 'value': q.value})[1:5]
                from meta.quarantine q where q.manifest_id = e.manifest_id) as reasons
        from meta.extract_runs e
        where not exists (select 1 from meta.quality_checks c
                          where c.layer = 'extract' and c.suite = e.manifest_id)
        order by e.loaded_at, e.manifest_id
        """
    ).fetchall()
    return [
        CheckResult(
            "extract",
            manifest_id,
            "quarantined_records",
            f"raw.{source}__{endpoint}",
            not quarantined,
            severity="warn",
            observed=f"{quarantined or 0} of {received} records quarantined",
            sample=[_plain(r) for r in (reasons or [])],
            observed_value=float(quarantined or 0),
            investigate=f"select column_name, reason, value from meta.quarantine where manifest_id = '{manifest_id}'",
        )
        for manifest_id, source, endpoint, received, quarantined, reasons in rows
    ]


def record(conn: duckdb.DuckDBPyConnection, run_id: str, results: list[CheckResult]) -> None:
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
            r.observed_value,
        )
        for r in results
    ]
    if rows:
        conn.executemany(
            f"insert into meta.quality_checks ({LEDGER_COLUMNS}) values (?, now(), ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
        )


def _ensure_ledger(conn) -> None:
    for stmt in filter(str.strip, LEDGER_DDL.split(";")):
        conn.execute(stmt)


def docs_dir_for(run_id: str) -> Path:
    return paths.data_dir() / "quality" / re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id)


def _month_end(last_month: str) -> datetime:
    y, m = int(last_month[:4]), int(last_month[5:7])
    y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return datetime(y, m, 1, tzinfo=BEIJING)


def run_gate(
    working_db: Path,
    run_id: str,
    last_month: str,
    dbt_results: list[dict] | None = None,
    as_of: datetime | None = None,
    docs_dir: Path | None = None,
) -> dict:
    """Audit the working database; record every check; raise GateFailed if a blocking check failed.

    last_month: the run's month ('YYYY-MM-01'); as_of: the end of the run's data interval,
    which freshness is judged against (default: the end of last_month, Beijing time).
    """
    import time

    from expectations.docs import write_report

    started = time.perf_counter()
    as_of = as_of or _month_end(last_month)
    docs_dir = Path(docs_dir or docs_dir_for(run_id))
    context = _context()
    with duckdb.connect(str(working_db)) as conn:
        _ensure_ledger(conn)
        batches = raw_batches(conn, as_of) + published_batches(conn, last_month)
        results, validations = dbt_checks(dbt_results or []) + extraction_checks(conn), []
        for batch in batches:
            checks, validation = validate(context, batch)
            results += checks
            validations.append((batch, validation))
        conn.execute("begin transaction")
        record(conn, run_id, results)
        conn.execute("commit")
    report = write_report(docs_dir, run_id, validations, results)
    failed = [r for r in results if not r.success and r.severity == "block"]
    warned = [r for r in results if not r.success and r.severity == "warn"]
    for r in warned:
        log.warning("quality warning: %s", r.describe())
    summary = {
        "checks_passed": sum(r.success for r in results),
        "checks_failed": len(failed),
        "warnings": len(warned),
        "data_docs": str(report),
        "seconds": round(time.perf_counter() - started, 2),
    }
    log.info("quality report (open in a browser): %s", report)
    if failed:
        raise GateFailed(failure_message(working_db, run_id, failed, report))
    log.info("quality gate passed: %s", summary)
    return summary


def failure_message(working_db: Path, run_id: str, failed: list[CheckResult], report: Path) -> str:
    lines = [
        f"Quality gate failed for run {run_id}: {len(failed)} blocking check(s) failed; nothing was "
        "published and the previous published file is unchanged."
    ]
    for i, r in enumerate(failed, 1):
        lines.append(f"  {i}. {r.describe()}")
        if r.investigate:
            lines.append(f"     look at the rows: {r.investigate}")
    lines += [
        "How to investigate (open the working database read-only while no pipeline task runs):",
        f'  duckdb -readonly {working_db} "select layer, suite, check_name, table_name, observed, sample '
        f"from meta.quality_checks where run_id = '{run_id}' and not success\"",
        f"  HTML report: {report}",
        "Fix the source data or the model, then clear the transform_publish run.",
    ]
    return "\n".join(lines)
