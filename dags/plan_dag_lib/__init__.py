"""Glue shared by the DAG files: connections, Assets, run keys, failure alerts.

Kept out of DAG parsing by `.airflowignore`; the pipeline's logic lives in `extract/`,
`warehouse/` and `expectations/`, which have no Airflow imports.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from airflow.sdk import Asset

log = logging.getLogger(__name__)

# The single-writer rule of DuckDB, enforced by Airflow: every task that opens the working
# database runs in this pool, which has one slot.
WRITER_POOL = "duckdb_writer"

RAW_ASSETS = {
    "kechuang_orders": Asset("duckdb://plan_metrics_work/raw/kechuang_orders"),
}
PUBLISHED_ASSET = Asset("duckdb://plan_metrics/metrics")

DEFAULT_ARGS = {
    "owner": "plan-metrics",
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
    "execution_timeout": timedelta(minutes=60),
}


def http_source(conn_id: str) -> tuple[str, str]:
    """(base URL, token) of an HTTP source from its Airflow connection.

    host/port/schema give the base URL (schema is the scheme, http by default); the
    password is the bearer token.
    """
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    host = conn.host or ""
    if "://" not in host:
        host = f"{conn.schema or 'http'}://{host}"
    base = host.rstrip("/")
    if conn.port:
        base = f"{base}:{conn.port}"
    if not conn.password:
        raise ValueError(f"connection {conn_id!r} has no password (the source's bearer token)")
    return base, conn.password


def run_key(context) -> str:
    """A key for what one DAG run lands: its data interval when it has one, else its run id."""
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    run_id = context["dag_run"].run_id
    if start is not None and end is not None and not run_id.startswith("manual__"):
        return f"{start:%Y%m%dT%H%M%S}_{end:%Y%m%dT%H%M%S}"
    return run_id


def interval(context) -> tuple[str | None, str | None]:
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    return (start.isoformat() if start else None, end.isoformat() if end else None)


def alert_on_failure(context) -> None:
    """One readable message about what failed (log; a webhook comes with the alerts issue)."""
    ti = context.get("task_instance")
    exc = context.get("exception")
    log.error(
        "PIPELINE FAILURE: dag=%s task=%s run=%s try=%s\n%s",
        getattr(ti, "dag_id", "?"),
        getattr(ti, "task_id", "?"),
        context.get("run_id"),
        getattr(ti, "try_number", "?"),
        exc,
    )
