"""
### Transform, audit, publish (write-audit-publish)

Scheduled on the raw-layer Assets of the extract DAGs: it runs whenever any source's raw
tables changed (an extract DAG whose load found nothing new emits no event).
0. A run whose inputs (the raw layer, the "as of" day, the code) are those the live publish
   was computed from skips everything: `dbt_build` is skipped (and with it the rest) without
   importing dbt (warehouse/run_inputs.py).
1. `dbt_build` builds staging → intermediate → marts into the working DuckDB and runs
   dbt's tests (in-process `dbtRunner`).
2. `quality_gate` validates the marts with the Great Expectations suites in
   `expectations/` and records every check (dbt's too) in `meta.quality_checks`.
3. `publish` writes a new `published/plan_metrics.duckdb` and swaps it in atomically.

**When it fails**
- `dbt_build`: the log lists the failing models/tests; the published file is untouched. A
  failing model or test fails at once; a lock, a full disk or an I/O error is retried.
- `quality_gate`: the message names each failing check, its table and a sample of values,
  and the query to run; the published file is untouched. Fix the data or the source and
  clear the run.
- `publish`: the previous published file stays in place; clear the task to retry. A retry
  after the swap succeeded finishes the publish without a second log row.
- To go back to an earlier publish: `make rollback` (see docs/pipeline.md).
"""

from __future__ import annotations

from airflow.sdk import AssetAny, Param, dag, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from pendulum import datetime
from plan_dag_lib import (
    DEFAULT_ARGS,
    PUBLISHED_ASSET,
    RAW_ASSETS,
    WRITER_POOL,
    WRITER_QUEUE,
    alert_on_failure,
    run_context_of,
    task_settings,
)
from plan_dag_lib.schedules import TRANSFORM_DAGRUN_TIMEOUT, TRANSFORM_TASK


@dag(
    dag_id="transform_publish",
    # Any source's raw change triggers a publish (a plain list would wait for ALL of them).
    # Events that arrive while a run is going queue one next run (max_active_runs=1).
    schedule=AssetAny(*RAW_ASSETS.values()),
    start_date=datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=TRANSFORM_DAGRUN_TIMEOUT,
    # Every task here opens the working database: all go to the writer queue.
    default_args={**DEFAULT_ARGS, **TRANSFORM_TASK, "queue": WRITER_QUEUE, "on_failure_callback": alert_on_failure},
    tags=["transform", "quality", "publish"],
    doc_md=__doc__,
    params={
        "as_of": Param(
            None,
            type=["null", "string"],
            description="ISO 8601 instant the data is as of (default: the run's data interval end). "
            "Set it to re-publish as of an earlier day, or to a simulated clock.",
        )
    },
)
def transform_publish():
    # Each task computes the same RunContext from the run (a pure function of the run id, when
    # it was due, the `as_of` param and the data interval), so a retried task gets the same.

    @task(pool=WRITER_POOL)
    def dbt_build(**context) -> dict:
        from pipeline import steps
        from warehouse.transform import DbtBuildFailed

        try:
            built = steps.build(task_settings(), run_context_of(context))
        except DbtBuildFailed as exc:  # deterministic for the same data: retrying cannot help
            raise AirflowFailException(str(exc)) from exc
        if steps.unchanged(built):  # the live file is what this run would publish: skip the rest
            raise AirflowSkipException(f"inputs unchanged since publish {steps.unchanged(built)}: nothing to build")
        return built

    @task(pool=WRITER_POOL)
    def quality_gate(build: dict, **context) -> dict:
        from expectations.gate import GateFailed
        from pipeline import steps

        try:
            return steps.gate(task_settings(), run_context_of(context), build)
        except GateFailed as exc:  # a failed check is not transient: fail now, do not retry
            raise AirflowFailException(str(exc)) from exc

    @task(pool=WRITER_POOL, outlets=[PUBLISHED_ASSET])
    def publish(build: dict, gate: dict, **context) -> dict:
        from pipeline import steps

        return steps.publish(task_settings(), run_context_of(context), build, gate)

    built = dbt_build()
    publish(built, quality_gate(built))


transform_publish()
