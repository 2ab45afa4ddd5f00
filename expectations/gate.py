"""The quality gate between the working database and the published one: it runs, records, reports.

Great Expectations validates DataFrames fetched from DuckDB (GX's SQL path on DuckDB
fails with `MetricResolutionError` in GX 1.24, see docs/pipeline.md); the suites and the queries that
make their frames live in `raw.py` and `published.py`. All suites run in one ephemeral GX
context (a Checkpoint would pass the same batch to every validation, and each suite here
has its own DataFrame).

Every result — dbt's tests, GX expectations, the records quarantined at extraction and at
staging (`quarantine.py`) — lands in the quality ledger `meta.quality_checks`. An HTML
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
import time
from collections import defaultdict
from pathlib import Path

import duckdb

from expectations.checks import Batch, CheckResult, jsonable
from settings import Settings, duck
from warehouse import meta
from warehouse.run_context import RunContext

log = logging.getLogger(__name__)


class GateFailed(RuntimeError):
    """A blocking check failed; the publish must not happen."""


# --- running the suites ---------------------------------------------------------------
def _context():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no tqdm bars in task logs
    return context


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
    return [_result(r, suite.name, batch) for r in result.results], result


def _result(r, suite_name: str, batch: Batch) -> CheckResult:
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
        observed = json.dumps(jsonable(value), default=str)
    sample = res.get("partial_unexpected_index_list") or res.get("partial_unexpected_list") or []
    sample = [jsonable(s) for s in sample[:10]]
    severity = getattr(r.expectation_config.severity, "value", "critical")
    return CheckResult(
        "gx",
        suite_name,
        _label(r.expectation_config),
        batch.table,
        bool(r.success),
        severity="warn" if severity == "warning" else "block",
        observed=observed,
        sample=sample,
        observed_value=float(value) if isinstance(value, (int, float)) else None,
        investigate="" if r.success else _investigate(batch.investigate, sample),
    )


def dbt_checks(dbt_results: list[dict]) -> list[CheckResult]:
    """dbt test results (from the build task) as ledger entries."""
    return [
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
        for r in dbt_results
        if r["resource_type"] == "test"
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
            f"insert into meta.quality_checks ({meta.QUALITY_COLUMNS}) values (?, now(), ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def docs_dir_for(settings: Settings, run_id: str) -> Path:
    return settings.quality_dir / re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id)


def run_gate(
    settings: Settings, ctx: RunContext, dbt_results: list[dict] | None = None, docs_dir: Path | None = None
) -> dict:
    """Audit the settings' working database as of the run's context; record every check; raise
    GateFailed if a blocking check failed. Freshness is judged against `ctx.as_of` (the
    run's data interval end), months against its as-of month — never the wall clock."""
    from expectations import published, quarantine, raw
    from expectations.quality_report import write_report

    started = time.perf_counter()
    working_db = settings.working_db
    docs_dir = Path(docs_dir or docs_dir_for(settings, ctx.run_id))
    context = _context()
    with duck.connect(working_db, settings) as conn:
        meta.ensure(conn)
        batches = raw.batches(conn, ctx) + published.batches(conn, ctx)
        results = dbt_checks(dbt_results or []) + quarantine.extraction_checks(conn)
        results += quarantine.set_aside_checks(conn) + quarantine.staging_checks(conn)
        validations = []
        for batch in batches:
            checks, validation = validate(context, batch)
            results += checks
            validations.append((batch, validation))
        conn.execute("begin transaction")
        record(conn, ctx.run_id, results)
        conn.execute("commit")
    report = write_report(docs_dir, ctx.run_id, validations, results)
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
        raise GateFailed(failure_message(working_db, ctx.run_id, failed, report))
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
