"""The one shape every extract DAG has: read_watermarks → extract → load, emitting the raw Asset.

A DAG file calls `api_extract_dag(source, cadence, doc_md, tags)` for an HTTP source whose
endpoints are in `extract.sources.ENDPOINTS`, or `extract_load_dag(...)` with three plain
functions (no Airflow imports needed in them) for anything else, e.g. a drop folder:

    read_state() -> dict                                  # in the writer pool
    extract(state, run_key, interval) -> list[dict]       # lands files; never opens DuckDB
    load(landed) -> dict[str, dict]                       # in the writer pool, one transaction

`load` returns one summary per raw table; when none has `inserted > 0` the task ends
*skipped* after committing its bookkeeping, so no Asset event is emitted and no transform
runs for a source that did not change (and `published/history/` is not rotated by
identical publishes).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from airflow.sdk import dag, task
from airflow.sdk.exceptions import AirflowSkipException
from pendulum import datetime

from plan_dag_lib import (
    DEFAULT_ARGS,
    RAW_ASSETS,
    WRITER_POOL,
    WRITER_QUEUE,
    alert_on_failure,
    http_source,
    interval,
    run_key,
)
from plan_dag_lib.schedules import EXTRACT_TASK, WAREHOUSE_TASK, Cadence

START_DATE = datetime(2026, 1, 1, tz="UTC")


def rows_inserted(result: dict) -> int:
    """How many rows a load added to the raw tables (summaries are {table: {"inserted": n, ...}})."""
    return sum(int(v.get("inserted") or 0) for v in result.values() if isinstance(v, dict))


def extract_load_dag(
    source: str,
    *,
    cadence: Cadence,
    doc_md: str,
    tags: list[str],
    read_state: Callable[[], dict],
    extract: Callable[[dict, str, tuple], list[dict]],
    load: Callable[[list[dict]], dict],
    changed: Callable[[dict], int] = rows_inserted,
):
    """Build the extract DAG `extract_<source>`; call it at module level of a DAG file."""

    @dag(
        dag_id=f"extract_{source}",
        schedule=cadence.timetable(),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=cadence.dagrun_timeout,
        default_args={**DEFAULT_ARGS, "on_failure_callback": alert_on_failure},
        tags=["extract", *tags],
        doc_md=doc_md,
    )
    def extract_dag():
        @task(pool=WRITER_POOL, queue=WRITER_QUEUE, **WAREHOUSE_TASK)
        def read_watermarks() -> dict:
            return read_state()

        # Not in the pool: extraction never opens the warehouse, so sources run in parallel.
        @task(task_id="extract", **EXTRACT_TASK)
        def extract_task(state: dict, **context) -> list[dict]:
            return extract(state, run_key(context), interval(context))

        @task(task_id="load", pool=WRITER_POOL, queue=WRITER_QUEUE, outlets=[RAW_ASSETS[source]], **WAREHOUSE_TASK)
        def load_task(landed: list[dict]) -> dict:
            result = load(landed)
            if not changed(result):
                raise AirflowSkipException(f"{source}: nothing new was loaded ({result}); no Asset event")
            return result

        load_task(extract_task(read_watermarks()))

    return extract_dag()


# --- HTTP sources (extract.sources.ENDPOINTS) ------------------------------------------
def read_api_watermarks(source: str) -> dict:
    from extract.sources import ENDPOINTS
    from warehouse import paths
    from warehouse.raw_load import read_watermark

    return {ep.name: read_watermark(paths.working_db(), ep) for ep in ENDPOINTS[source]}


def extract_api(source: str, watermarks: dict, key: str, span: tuple) -> list[dict]:
    from extract.api import extract_endpoint
    from extract.http_client import ApiClient
    from extract.sources import ENDPOINTS
    from warehouse import paths

    base_url, token = http_source(source)
    landed = []
    for ep in ENDPOINTS[source]:
        client = ApiClient(base_url, token)
        try:
            m = extract_endpoint(client, ep, paths.landing_root(), key, watermarks.get(ep.name), span)
        finally:
            client.close()
        landed.append({k: m.get(k) for k in ("manifest_id", "row_count", "quarantined", "pages", "retries", "reused")})
    return landed


def load_api(source: str, landed: list[dict]) -> dict:
    import duckdb

    from extract.sources import ENDPOINTS
    from warehouse import paths
    from warehouse.raw_load import load_endpoint

    db = paths.working_db()
    db.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(db)) as conn:
        return {ep.raw_table: load_endpoint(conn, ep, paths.landing_root()) for ep in ENDPOINTS[source]}


def api_extract_dag(source: str, *, cadence: Cadence, doc_md: str, tags: list[str]):
    """The extract DAG of an HTTP source: the connection `source`, every endpoint it has."""
    return extract_load_dag(
        source,
        cadence=cadence,
        doc_md=doc_md,
        tags=tags,
        read_state=partial(read_api_watermarks, source),
        extract=partial(extract_api, source),
        load=partial(load_api, source),
    )
