"""One benchmark stage in its own process: `python -m bench.stage <stage> <params.json> <result.json>`.

A stage is either a pipeline stage (extract, load, dbt, gate, publish): the steps of
`pipeline/steps.py`, the very functions the DAGs call, timed here; or the bare baseline of one
(bare_fetch, duckdb_read, direct_sql). The result file gets the stage's own numbers plus
`seconds` (the work, timed in-process), `import_seconds` (what importing its libraries
cost before the timer started) and `peak_rss_mb` (this process's high-water mark).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path


def _peak_rss_mb() -> float:
    """This process's own high-water mark (VmHWM). Not getrusage's ru_maxrss: Linux keeps that
    across exec and records into it the peak of the address space exec replaced — with
    subprocess's vfork, the parent's (the bench's own, ~190 MB at SF10) — so every stage
    smaller than the bench read as the bench's size."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)  # kB
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def extract(p: dict, settings) -> dict:
    """`pipeline.steps.extract` of every source, timed: the HTTP sources first (their peak
    memory apart), then the drop folders."""
    from extract.sources import file_sources, http_sources
    from pipeline import steps

    t0 = time.perf_counter()
    endpoints, urls = {}, []
    for source in http_sources():
        info = p["sources"][source.name]

        def watch(client, _s=source.name):
            # every URL the extractor fetched, so the bare loop can fetch exactly the same pages
            client.session.hooks["response"].append(lambda r, *a, **k: urls.append([_s, r.url]))

        state = steps.read_state(settings, source.name)
        connection = (info["base_url"], info["token"])
        timings: dict[str, float] = {}
        for m in steps.extract(settings, source.name, p["run_key"], None, state, connection, watch, timings):
            endpoints[f"{source.name}/{m['endpoint']}"] = {
                "records": m["records"],
                "rows_landed": m["row_count"],
                "pages": m["pages"],
                "bytes": m["bytes"],
                "seconds": timings[m["endpoint"]],
            }
    api_seconds = time.perf_counter() - t0
    api_peak_rss_mb = _peak_rss_mb()  # the HTTP extraction alone, before any spreadsheet is read
    drops = {}
    for source in file_sources():
        started = time.perf_counter()
        (m,) = steps.extract(settings, source.name, p["run_key"])
        drops[source.name] = {
            "files": m.get("files", 0),
            "rows_landed": m.get("row_count", 0),
            "seconds": round(time.perf_counter() - started, 3),
        }
    Path(p["urls_file"]).write_text(json.dumps(urls))
    records = sum(e["records"] for e in endpoints.values())
    return {
        "api_records": records,
        "api_seconds": round(api_seconds, 3),
        "api_records_per_s": round(records / api_seconds, 1) if api_seconds else None,
        "requests": len(urls),
        "api_peak_rss_mb": api_peak_rss_mb,
        "endpoints": endpoints,
        "drops": drops,
    }


def bare_fetch(p: dict, settings) -> dict:
    """The same pages with nothing but `requests`: GET, decode JSON, count the records."""
    from urllib.parse import parse_qs, urlsplit

    import requests

    urls = json.loads(Path(p["urls_file"]).read_text())
    sessions = {}
    for source, info in p["sources"].items():
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {info['token']}"
        sessions[source] = s
    t0 = time.perf_counter()
    records = 0
    for source, url in urls:
        r = sessions[source].get(url, timeout=60)
        r.raise_for_status()
        body = r.json()
        # a one-row page is the reader asking the server for its `total` (extract/pagination.py
        # proving it read to the end): fetched here too, its row not counted as received
        if parse_qs(urlsplit(url).query).get("page_size") != ["1"]:
            records += len(body.get("data") or body.get("items") or [])
    seconds = time.perf_counter() - t0
    return {"records": records, "requests": len(urls), "seconds_work": round(seconds, 3)}


def load(p: dict, settings) -> dict:
    """`pipeline.steps.load` of every source (each table timed by the step)."""
    from extract.sources import SOURCES
    from pipeline import steps

    tables = {}
    for source in SOURCES:
        tables.update(steps.load(settings, source))
    api = [v for k, v in tables.items() if k.startswith("raw.")]
    api_rows, api_s = sum(v["inserted"] for v in api), sum(v["seconds"] for v in api)
    return {
        "rows_inserted": sum(v["inserted"] for v in tables.values()),
        "api_rows_inserted": api_rows,
        "api_seconds": round(api_s, 3),
        "api_rows_per_s": round(api_rows / api_s, 1) if api_s else None,
        "tables": tables,
    }


def duckdb_read(p: dict, settings) -> dict:
    """DuckDB alone: read the same landed NDJSON files into a fresh table per endpoint."""
    from extract.landing import landed_runs
    from extract.sources import all_endpoints
    from settings import duck
    from warehouse.raw_load import raw_columns

    landing = Path(p["landing_root"])
    rows = seconds = 0.0
    tables = {}
    Path(p["scratch_db"]).parent.mkdir(parents=True, exist_ok=True)
    with duck.connect(p["scratch_db"], settings) as conn:
        for ep in all_endpoints():
            runs = landed_runs(landing, ep.source, ep.name)
            files = [str(run.path(part.name)) for run in runs for part in run.manifest.parts]
            if not files:
                continue
            columns = raw_columns(ep)
            struct = "{" + ", ".join(f"'{k}': '{v}'" for k, v in columns.items()) + "}"
            started = time.perf_counter()
            conn.execute(
                f"create table {ep.source}__{ep.name} as select * from read_json({files!r}, "
                f"format = 'newline_delimited', columns = {struct})"
            )
            took = time.perf_counter() - started
            n = conn.execute(f"select count(*) from {ep.source}__{ep.name}").fetchone()[0]
            tables[ep.raw_table] = {"rows": n, "seconds": round(took, 4)}
            rows += n
            seconds += took
    return {
        "rows": int(rows),
        "seconds_work": round(seconds, 4),
        "rows_per_s": round(rows / seconds, 1) if seconds else None,
        "tables": tables,
    }


def _context(p: dict):
    """The run's context as the transform DAG computes it: as of the simulated clock."""
    from extract.beijing_time import parse_ts
    from warehouse.run_context import run_context

    return run_context(p["run_id"], parse_ts(p["as_of"]), p["as_of"])


def dbt(p: dict, settings) -> dict:
    from pipeline import steps

    started = time.perf_counter()
    r = steps.build(settings, _context(p))
    wall = time.perf_counter() - started
    nodes = r["nodes"]
    by_type: dict[str, float] = {}
    for n in nodes:
        by_type[n["resource_type"]] = round(by_type.get(n["resource_type"], 0) + n["seconds"], 3)
    models = sorted((n for n in nodes if n["resource_type"] == "model"), key=lambda n: -n["seconds"])
    Path(p["nodes_file"]).write_text(json.dumps(r))
    return {
        "invocation_id": r["invocation_id"],
        "inputs": r["inputs"],
        "unchanged_since": r.get("unchanged_since"),
        "build_seconds": round(wall, 3),
        "nodes": len(nodes),
        "node_seconds_by_type": by_type,
        "slowest_models": [{"name": n["name"], "seconds": n["seconds"]} for n in models[:5]],
    }


def gate(p: dict, settings) -> dict:
    from expectations.gate import GateFailed
    from pipeline import steps

    build = json.loads(Path(p["nodes_file"]).read_text())
    started = time.perf_counter()
    try:
        r = steps.gate(settings, _context(p), build)
        outcome = {"passed": True, "checks_passed": r["checks_passed"], "checks_failed": r["checks_failed"]}
    except GateFailed as exc:  # the timing still counts; the report says it failed and why
        outcome = {"passed": False, "checks_passed": None, "checks_failed": None, "message": str(exc)[:2000]}
    return {"gate_seconds": round(time.perf_counter() - started, 3), **outcome}


def publish(p: dict, settings) -> dict:
    from pipeline import steps

    built = {"invocation_id": p.get("invocation_id"), "inputs": p.get("inputs")}
    gated = {"checks_passed": p.get("checks_passed") or 0, "checks_failed": p.get("checks_failed") or 0}
    started = time.perf_counter()
    r = steps.publish(settings, _context(p), built, gated)
    return {
        "publish_seconds": round(time.perf_counter() - started, 3),
        "publish_id": r["publish_id"],
        "row_counts": r["row_counts"],
    }


def bare_parse(p: dict, settings) -> dict:
    """The drop folders' files read and parsed in this one process (bench/drops.py), and the
    two readers compared on the same files."""
    from bench.drops import bare_parse as parse_all
    from bench.drops import readers

    return {**parse_all(Path(p["incoming"])), "readers": readers(Path(p["incoming"]))}


def direct_sql(p: dict, settings) -> dict:
    from bench.direct_sql import run_compiled

    return run_compiled(Path(p["target_dir"]), Path(p["db"]), settings)


STAGES: dict[str, tuple[Callable[..., dict], tuple[str, ...]]] = {
    # stage -> (function, modules imported before the timer: import cost is reported apart)
    "extract": (extract, ("extract.api", "extract.drops", "warehouse.raw_load")),
    "bare_fetch": (bare_fetch, ("requests",)),
    "bare_parse": (bare_parse, ("extract.spreadsheets", "openpyxl", "python_calamine")),
    "load": (load, ("duckdb", "warehouse.raw_load")),
    "duckdb_read": (duckdb_read, ("duckdb",)),
    "dbt": (dbt, ("dbt.cli.main", "warehouse.transform")),
    "direct_sql": (direct_sql, ("duckdb",)),
    "gate": (gate, ("great_expectations", "expectations.gate", "expectations.quality_report")),
    "publish": (publish, ("duckdb", "warehouse.publish")),
}


def main(argv: list[str] | None = None) -> int:
    import importlib
    import logging

    name, params_path, result_path = argv or sys.argv[1:]
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    fn, modules = STAGES[name]
    params = json.loads(Path(params_path).read_text())
    from extract.landing import arm_failpoint
    from settings import Settings

    # the stage's process is the edge: its settings (the data folder bench/run.py gave it,
    # the drop folders the simulator writes)
    settings = Settings.from_env()
    if "incoming" in params:
        settings = replace(settings, incoming_dir=Path(params["incoming"]).resolve())
    arm_failpoint(settings)
    t0 = time.perf_counter()
    # a long-lived worker has them imported already; `"preimport": false` measures a process
    # that imports only what its work needs (the empty run: dbt and GX are never needed)
    for m in modules if params.get("preimport", True) else ():
        importlib.import_module(m)
    import_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    result = fn(params, settings)
    result.setdefault("seconds", round(time.perf_counter() - t1, 3))
    result["import_seconds"] = round(import_s, 3)
    result["peak_rss_mb"] = _peak_rss_mb()
    Path(result_path).write_text(json.dumps(result, indent=2, default=str))
    return 0


def serve() -> int:
    """`python -m bench.stage --serve`: the deployment's writer worker as a stage runner. It
    imports what pipeline/writer_worker.py imports before its Celery worker forks a task (dbt,
    Great Expectations), then, for each line `<stage> <params.json> <result.json>` on stdin,
    forks a child that runs the stage as `main` does and answers the child's exit code on
    stdout once it has finished: each stage is a new process forked from a warm one, as each
    task of the writer is. The child's stdout goes to stderr (stdout is the answers)."""
    import os
    import traceback

    from pipeline.writer_worker import preload

    preload()
    print("ready", flush=True)
    for line in sys.stdin:
        name, params_path, result_path = line.split()
        pid = os.fork()
        if pid == 0:
            os.dup2(2, 1)
            try:
                code = main([name, params_path, result_path])
            except BaseException:
                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(serve() if sys.argv[1:] == ["--serve"] else main())
