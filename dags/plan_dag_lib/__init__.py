"""Glue shared by the DAG files: connections, Assets, run keys and contexts, failure alerts.

Kept out of DAG parsing by `.airflowignore`; the pipeline's logic lives in `extract/`,
`warehouse/` and `expectations/`, which have no Airflow imports, and what the pipeline knows
about each source in the registry `extract.sources.SOURCES`. `schedules.py` holds the
timetables and per-task limits, `extract_dag.py` the read_watermarks → extract → load DAG
shape every source shares.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from airflow.sdk import Asset, AssetWatcher

from extract.sources import SOURCES, file_sources
from pipeline import WRITER_POOL, WRITER_QUEUE  # noqa: F401  (the single-writer pool and queue: pipeline/)
from plan_dag_lib.alerts import alert_on_failure  # noqa: F401  (every DAG's on_failure_callback)
from warehouse.permissions import apply_umask

log = logging.getLogger(__name__)

# Every task process parses its DAG file, so this is set before any task writes a file: the
# data folder's folders are 0750 and its files 0640 (warehouse/permissions.py).
apply_umask()

# One Asset per source: "the raw tables of <source> changed". Its extract DAG emits it only
# when a load inserted something; transform_publish runs on any of them (AssetAny).
RAW_ASSETS = {source: Asset(f"duckdb://plan_metrics_work/raw/{source}") for source in SOURCES}
PUBLISHED_ASSET = Asset("duckdb://plan_metrics/metrics")


def _drop_asset(source: str) -> Asset:
    from pipeline.drop_watch import DropFolderTrigger

    watcher = AssetWatcher(name=f"drops_{source}", trigger=DropFolderTrigger(source=source))
    return Asset(name=f"drops_{source}", uri=f"file://plan_metrics_incoming/{source}", watchers=[watcher])


# One Asset per drop folder: "a settled upload no run has taken". Its watcher (a trigger in
# the triggerer, pipeline/drop_watch.py) emits it; the source's extract DAG runs on it as well
# as on its cadence, so an upload is taken within seconds of its quiet period.
DROP_ASSETS = {source.name: _drop_asset(source.name) for source in file_sources()}

# Retries and timeouts are set per kind of task (schedules.py), never here.
DEFAULT_ARGS = {"owner": "plan-metrics"}


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


def task_settings():
    """The pipeline's settings, read at the start of a task (the task is the edge: what it
    calls is handed them), with the process's failpoint armed from them."""
    from extract.landing import arm_failpoint
    from settings import Settings

    settings = Settings.from_env()
    arm_failpoint(settings)
    return settings


def run_key(context) -> str:
    """A key for what one DAG run lands: its data interval when it has one, else its run id.

    Scheduled and backfill runs of the same interval share the key, so a re-run (cleared
    task, `airflow backfill create --reprocess-behavior completed`) finds the interval
    already landed and reuses it instead of asking the source again.
    """
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    run_id = context["dag_run"].run_id
    if start is not None and end is not None and not run_id.startswith(("manual__", "asset_triggered__")):
        return f"{start:%Y%m%dT%H%M%S}_{end:%Y%m%dT%H%M%S}"
    return run_id


def run_context_of(context):
    """The transform run's RunContext: the `as_of` param, else the data interval end."""
    from warehouse.run_context import run_context

    dag_run = context["dag_run"]
    as_of = (context.get("params") or {}).get("as_of")
    ctx = run_context(dag_run.run_id, dag_run.run_after, as_of, context.get("data_interval_end"))
    return replace(ctx, lineage_parent=_lineage_run(context.get("ti")))


def _lineage_run(ti) -> tuple[str, str, str] | None:
    """(namespace, job name, run id) the OpenLineage provider gives this task's run; None when
    it cannot say (lineage never fails a task)."""
    try:
        from airflow.providers.openlineage.plugins.macros import (
            lineage_job_name,
            lineage_job_namespace,
            lineage_run_id,
        )

        return (lineage_job_namespace(), lineage_job_name(ti), lineage_run_id(ti)) if ti else None
    except Exception:
        return None


def interval(context) -> tuple[str | None, str | None]:
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    return (start.isoformat() if start else None, end.isoformat() if end else None)
