"""The one shape every extract DAG has: read_watermarks → extract → load, emitting the raw Asset.

`source_dag(source)` builds the DAG `extract_<name>` of a registry entry
(`extract.sources.SOURCES`), whose tasks call the steps of `pipeline/steps.py` with the
task's settings: an HTTP source reads its endpoints through its Airflow connection, a
drop-folder source lists its folder. Anything else can use
`extract_load_dag(...)` with three plain functions (no Airflow imports needed in them):

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

from airflow.sdk import AssetOrTimeSchedule, dag, task
from airflow.sdk.exceptions import AirflowSkipException
from pendulum import datetime

from extract.sources import Cadence, Source
from plan_dag_lib import (
    DEFAULT_ARGS,
    DROP_ASSETS,
    RAW_ASSETS,
    WRITER_POOL,
    WRITER_QUEUE,
    alert_on_failure,
    http_source,
    interval,
    run_key,
    task_settings,
)
from plan_dag_lib.schedules import EXTRACT_TASK, WAREHOUSE_TASK, timetable

START_DATE = datetime(2026, 1, 1, tz="UTC")

HTTP_DOC = """
Pulls every endpoint of the `{name}` connection incrementally (the stored watermark on
`updated_at` minus an overlap window), lands each run as immutable JSON-lines files with a
manifest under `$PLAN_METRICS_DATA_DIR/landing/{name}/`, then loads them into
`raw.{name}__*` of the working DuckDB exactly once, advancing the watermark in the same
transaction. Emits the `raw/{name}` Asset, which schedules `transform_publish`. Each run
lands under its data interval, so clearing a run or `airflow backfill create
--reprocess-behavior completed` reuses what that interval received.

**When it fails**
- `extract` failed: the source is down, refused the token, answered with something that
  is not its API (the message shows the URL, status, content type and first bytes), or a
  listing did not add up (the message gives the counts the server promised and the ones
  received). Nothing was loaded; clear the task when the source is fixed.
- `load` failed: the landed files are kept; clearing `load` loads them without calling the
  source again. A landed run that fails its checksum is moved to `_corrupt/` with its
  reason and the next extract asks the source again.
- `load` *skipped*: nothing new arrived; nothing to do (no Asset event, no transform).
- Records missing a required field are quarantined (`meta.quarantine`), counted in the log
  and in `meta.extract_runs`; new fields are kept in `_extra` and logged as schema drift;
  records stamped in the future (a source clock running ahead) load but never move the
  watermark, and the gate reports them.
"""

FILES_DOC = """
Watches `$PLAN_METRICS_INCOMING_DIR/{name}/` for new or changed spreadsheets (xlsx, xls,
csv). A file version (path + sha256) is processed once; a changed file is a new version
and the newest file wins downstream. Each run copies the files it read into the landing
zone, parses every messy form, never reads personal data ({personal}), and loads the clean
rows into `raw.{name}__*`. Emits the `raw/{name}` Asset.

**When it fails / what to check**
- A file that cannot be read (corrupt, encrypted, too large, no permission) or whose header
  is missing or misspelt is rejected whole, and the rest of the folder loads: see
  `meta.received_files` (status `rejected`, reason) and `meta.quarantine`; ask the sender to
  re-upload. The original uploads are kept owner-only in `restricted/originals/`.
- Rows with impossible values are quarantined with file, row, column, value and reason
  (`meta.quarantine`); the rest loads.
- `load` *skipped*: no new files (no Asset event, no transform).
"""


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
        schedule=schedule(source, cadence),
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


def schedule(source: str, cadence: Cadence):
    """The cadence; for a drop folder also its watcher's Asset (an upload that settled)."""
    if source not in DROP_ASSETS:
        return timetable(cadence)
    return AssetOrTimeSchedule(timetable=timetable(cadence), assets=DROP_ASSETS[source])


def source_dag(source: Source):
    """The extract DAG of one registry entry."""
    doc = HTTP_DOC if source.kind == "http" else FILES_DOC
    doc_md = f"### Extract: {source.title} ({source.code})\n\n{source.about}\n" + doc.format(
        name=source.name, personal=", ".join(source.personal) or "none"
    )
    callables = {
        "read_state": partial(read_state, source.name),
        "extract": partial(extract, source.name),
        "load": partial(load, source.name),
    }
    tags = [source.code, *source.measures]
    return extract_load_dag(source.name, cadence=source.cadence, doc_md=doc_md, tags=tags, **callables)


# --- the steps (pipeline/steps.py), with the task's settings ------------------------------
def read_state(source: str) -> dict:
    from pipeline import steps

    return steps.read_state(task_settings(), source)


def extract(source: str, state: dict, key: str, span: tuple) -> list[dict]:
    from extract.sources import SOURCES
    from pipeline import steps

    connection = http_source(source) if SOURCES[source].kind == "http" else None
    return steps.extract(task_settings(), source, key, span, state, connection)


def load(source: str, landed: list[dict]) -> dict:
    from pipeline import steps

    return steps.load(task_settings(), source)
