"""The pipeline's steps: extract a source, load it, build, gate, publish.

Each is a plain function of the settings (`settings.Settings`, read where the process
started) and of what the run is for — a source and a run key with its data interval for the
extract and load, the run's context (`warehouse.run_context.RunContext`: its publish id and
"as of") for the rest. The DAG tasks call them (dags/plan_dag_lib/), and through the DAGs
`make pipeline`; the benchmark times these very functions (bench/stage.py); the tests call
them to build a world without Airflow. Nothing here knows Airflow: a failure is the step's
own exception (DbtBuildFailed, GateFailed, …), which the DAG glue turns into Airflow's.
"""

from __future__ import annotations

import importlib
import logging
import sys
import time
from collections.abc import Callable

from settings import Settings
from warehouse.run_context import RunContext

log = logging.getLogger(__name__)


def import_for_task(module: str) -> None:
    """Import a library that costs seconds (dbt, Great Expectations), logging whether the
    worker had imported it before it forked this task (pipeline/writer_worker.py) or this
    task paid for it."""
    if module in sys.modules:
        log.info("%s: imported by the worker before this task (preloaded)", module)
        return
    started = time.perf_counter()
    importlib.import_module(module)
    log.info("%s: imported by this task in %.1f s (not preloaded)", module, time.perf_counter() - started)


def read_state(settings: Settings, source: str) -> dict:
    """What the source's extract starts from: each endpoint's committed watermark (an HTTP
    source); nothing for a drop folder, whose landing zone says which file versions landed."""
    from extract.sources import SOURCES
    from warehouse.raw_load import read_watermark

    spec = SOURCES[source]
    if spec.kind != "http":
        return {}
    return {ep.name: read_watermark(settings.working_db, ep, settings) for ep in spec.endpoints}


def extract(
    settings: Settings,
    source: str,
    key: str,
    span: tuple | None = None,
    state: dict | None = None,
    connection: tuple[str, str] | None = None,
    watch: Callable | None = None,
    timings: dict[str, float] | None = None,
) -> list[dict]:
    """Land what is new at the source under the run key `key` (its data interval `span`):
    one summary per endpoint of an HTTP source (`connection`: its base URL and token; `state`:
    the watermarks `read_state` gave), one for a drop folder (`{"noop": True}` when nothing
    new arrived). The summaries hold only what the run key received, so a retry or a backfill
    that finds the key landed returns the same ones. `watch(client)` sees each HTTP client
    before it is used (the benchmark records the URLs it fetched); `timings`, when given,
    receives each endpoint's seconds."""
    from extract.sources import SOURCES

    spec = SOURCES[source]
    if spec.kind != "http":
        from extract.drops import DropSettings, extract_drop_folder

        drops = DropSettings.of(settings)
        m = extract_drop_folder(source, settings.incoming_dir, settings.landing_root, key, span, settings=drops)
        return [m.summary(files=len(m.received)) if m is not None else {"noop": True}]
    from extract.api import extract_endpoint
    from extract.http_client import ApiClient

    if connection is None:
        raise ValueError(f"{source} is an HTTP source: its extract needs the connection (base URL, token)")
    base_url, token = connection
    landed = []
    for ep in spec.endpoints:
        client = ApiClient(base_url, token, max_body=int(settings.http_max_body_mb * 2**20))
        if watch is not None:
            watch(client)
        started = time.perf_counter()
        try:
            m = extract_endpoint(client, ep, settings.landing_root, key, (state or {}).get(ep.name), span)
        finally:
            client.close()
        if timings is not None:
            timings[ep.name] = round(time.perf_counter() - started, 3)
        landed.append(m.summary(endpoint=ep.name, records=m.records_received, bytes=m.bytes))
    return landed


def load(settings: Settings, source: str) -> dict:
    """Load what landed for the source and is not loaded yet into its raw tables, each table
    (or drop source) in one transaction with its watermark: {table: its load's summary}."""
    from extract.sources import SOURCES
    from settings import duck
    from warehouse.raw_load import load_drop_source, load_endpoint

    spec = SOURCES[source]
    db = settings.working_db
    db.parent.mkdir(parents=True, exist_ok=True)
    loaded = {}
    with duck.connect(db, settings) as conn:
        if spec.kind != "http":
            started = time.perf_counter()
            result = load_drop_source(conn, source, settings.landing_root)
            return {source: {**result, "seconds": round(time.perf_counter() - started, 3)}}
        for ep in spec.endpoints:
            started = time.perf_counter()
            result = load_endpoint(conn, ep, settings.landing_root)
            loaded[ep.raw_table] = {**result, "seconds": round(time.perf_counter() - started, 3)}
    return loaded


def build(settings: Settings, ctx: RunContext, full_refresh: bool = False) -> dict:
    """dbt build of the working database for the run: its publish id, dbt's invocation id,
    every node's result and the fingerprint of the inputs it read (DbtBuildFailed on a failing
    model or test, DbtTransientError on a lock or the disk). When the live publish was computed
    from exactly these inputs (warehouse/run_inputs.py: the raw layer, the "as of" day, the
    code), nothing runs and the answer names it (`unchanged_since`): the gate and the publish
    then have nothing to do, and dbt is not even imported."""
    from warehouse import run_inputs

    inputs = run_inputs.fingerprint(settings, ctx)
    if not full_refresh and (live := run_inputs.unchanged_since(settings, inputs)):
        return {"publish_id": ctx.publish_id, "invocation_id": None, "nodes": [], "inputs": inputs,
                "unchanged_since": live}  # fmt: skip
    import_for_task("dbt.cli.main")
    from warehouse.transform import dbt_build

    result = dbt_build(settings, ctx, full_refresh=full_refresh)
    return {
        "publish_id": ctx.publish_id,
        "invocation_id": result["invocation_id"],
        "nodes": result["nodes"],
        "inputs": inputs,
    }


def unchanged(built: dict) -> str | None:
    """The live publish that `build` found computed from the same inputs (nothing to do), or None."""
    return built.get("unchanged_since")


def gate(settings: Settings, ctx: RunContext, built: dict) -> dict:
    """The quality gate over what `build` made (dbt's tests go into the ledger too): the
    counts of checks, or GateFailed naming each blocking check that failed. Nothing to check
    when the build found its inputs unchanged (the live publish passed this gate already)."""
    if unchanged(built):
        return {"checks_passed": 0, "checks_failed": 0, "unchanged_since": unchanged(built)}
    import_for_task("great_expectations")
    from expectations.gate import run_gate

    return run_gate(settings, ctx, built["nodes"])


def publish(settings: Settings, ctx: RunContext, built: dict, gated: dict) -> dict:
    """Publish the built and gated working database: a new published file, swapped in, and
    what it was computed from remembered. Nothing when the build found its inputs unchanged:
    the live file is what this run would publish."""
    from warehouse import run_inputs
    from warehouse.publish import publish as publish_file

    if unchanged(built):
        return {"publish_id": unchanged(built), "unchanged_since": unchanged(built), "row_counts": {}}
    result = publish_file(
        settings, ctx.publish_id, gated["checks_passed"], gated["checks_failed"], built["invocation_id"]
    )
    run_inputs.remember(settings, ctx.publish_id, built.get("inputs"))
    return result
