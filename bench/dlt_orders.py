"""Extract + load of the S3 orders endpoint: this pipeline against dlt's `rest_api` source.

    .venv/bin/python bench/dlt_orders.py --scales 1,1,1,10,10 [--dlt-python /tmp/dltvenv/bin/python]

One simulator per scale (seed 42, clock at the end of the world) serves both legs the same
pages. Each repetition runs both legs, each in a fresh process, alternating which goes
first (the OS page cache and the simulator's SQLite cache then favour neither):

- ours: `extract.api.extract_endpoint` (watermark None: a full read) into a fresh landing
  zone, then `warehouse.raw_load.load_endpoint` into a fresh DuckDB file, as bench/stage.py
  calls them; extract and load timed apart.
- dlt: `dlt.sources.rest_api` on the same endpoint (bearer token, `limit=500`, the
  `next_cursor` / `cursor` paginator, records under `data`, `contact_phone` dropped as ours
  drops it) into a fresh DuckDB file; `pipeline.run` timed end to end (extract, normalize,
  load), with dlt's own per-step times from its trace.

Both legs must load exactly the orders the simulator holds at the clock (counted from its
SQLite store, not from either leg). dlt runs in its own virtualenv: nothing here imports a
project module at the top, so the same file runs under both interpreters (each leg with `-P`:
bench/, which holds run.py, report.py, …, never comes first on its path to shadow a library;
the base URL and token come on stdin, not in argv or the environment). dlt is a yardstick,
not a dependency, so it is in neither lock; make its virtualenv with

    python3.11 -m venv /tmp/dltvenv && /tmp/dltvenv/bin/pip install 'dlt[duckdb]==1.31.0'

Last run: bench/RESULTS.md ("Against dlt").
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROOT = Path("/tmp/dltbench")
DLT_PYTHON = "/tmp/dltvenv/bin/python"
CLOCK = "2021-12-31T23:59:59+08:00"  # the simulator's default: the end of the world
PAGE_LIMIT = 500


def _peak_rss_mb() -> float | None:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


# ------------------------------------------------------------------ leg A: ours --------
def leg_ours(base: str, token: str, work: Path) -> dict:
    t_imp = time.perf_counter()
    from extract.api import PAGE_LIMIT as OUR_LIMIT
    from extract.api import extract_endpoint
    from extract.http_client import ApiClient
    from extract.sources import SOURCES
    from settings import Settings, duck
    from warehouse.raw_load import load_endpoint

    import_s = time.perf_counter() - t_imp
    settings = Settings.from_env().with_data_dir(work)  # duck.connect spills under it
    assert OUR_LIMIT == PAGE_LIMIT, f"the pipeline pages by {OUR_LIMIT} now, not {PAGE_LIMIT}"
    ep = next(e for e in SOURCES["kechuang_orders"].endpoints if e.name == "orders")
    landing = work / "landing"
    db = work / "warehouse" / "plan_metrics_work.duckdb"
    db.parent.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    client = ApiClient(base, token)
    try:
        m = extract_endpoint(client, ep, landing, "dltbench", None)
    finally:
        client.close()
    t1 = time.perf_counter()
    with duck.connect(db, settings) as conn:
        r = load_endpoint(conn, ep, landing)
    t2 = time.perf_counter()
    with duck.connect(db, settings, read_only=True) as conn:
        rows, distinct = conn.execute(f"select count(*), count(distinct order_id) from {ep.raw_table}").fetchone()
    return {
        "leg": "ours",
        "extract_s": round(t1 - t0, 3),
        "load_s": round(t2 - t1, 3),
        "total_s": round(t2 - t0, 3),
        "import_s": round(import_s, 3),
        "pages": m.pages,
        "records_received": m.records_received,
        "inserted": r["inserted"],
        "quarantined": r["quarantined"],
        "rows": rows,
        "distinct_orders": distinct,
        "db_mb": round(db.stat().st_size / 2**20, 1),
        "peak_rss_mb": _peak_rss_mb(),
    }


# ------------------------------------------------------------------ leg B: dlt ---------
def _drop_phone(rec: dict) -> dict:
    rec.pop("contact_phone", None)  # ours never lands it: the same columns reach DuckDB
    return rec


def dlt_config(base: str, token: str, disposition: str) -> dict:
    return {
        "client": {
            "base_url": base,
            "auth": {"type": "bearer", "token": token},
            "paginator": {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor"},
        },
        "resource_defaults": {"primary_key": "order_id", "write_disposition": disposition},
        "resources": [
            {
                "name": "orders",
                "endpoint": {"path": "/v1/orders", "params": {"limit": PAGE_LIMIT}, "data_selector": "data"},
                "processing_steps": [{"map": _drop_phone}],
            }
        ],
    }


def leg_dlt(base: str, token: str, work: Path, disposition: str, file_format: str | None) -> dict:
    t_imp = time.perf_counter()
    import dlt
    from dlt.sources.rest_api import rest_api_source

    import_s = time.perf_counter() - t_imp
    db = work / "orders_dlt.duckdb"
    pipeline = dlt.pipeline(
        pipeline_name="orders_bench",
        destination=dlt.destinations.duckdb(str(db)),
        dataset_name="raw",
        pipelines_dir=str(work / "pipelines"),
    )
    source = rest_api_source(dlt_config(base, token, disposition))
    t0 = time.perf_counter()
    info = pipeline.run(source, loader_file_format=file_format) if file_format else pipeline.run(source)
    total = time.perf_counter() - t0
    steps = {}
    for step in pipeline.last_trace.steps:
        if step.step in ("extract", "normalize", "load") and step.finished_at and step.started_at:
            steps[step.step + "_s"] = round((step.finished_at - step.started_at).total_seconds(), 3)
    info.raise_on_failed_jobs()
    # counted through dlt's own client: bench/ opens DuckDB itself only through settings.duck
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name("orders")
        rows, distinct = client.execute_sql(f"select count(*), count(distinct order_id) from {table}")[0]
        columns = [r[0] for r in client.execute_sql(f"describe {table}")]
    return {
        "leg": "dlt",
        "total_s": round(total, 3),
        **steps,
        "import_s": round(import_s, 3),
        "disposition": disposition,
        "file_format": file_format or "default",
        "rows": rows,
        "distinct_orders": distinct,
        "columns": len(columns),
        "has_contact_phone": "contact_phone" in columns,
        "db_mb": round(db.stat().st_size / 2**20, 1),
        "peak_rss_mb": _peak_rss_mb(),
        "dlt_version": dlt.__version__,
    }


# ------------------------------------------------------------------ driver -------------
def _run_leg(python: str, leg: str, base: str, token: str, work: Path, extra: list[str]) -> dict:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    from settings import child_env

    # dlt's telemetry off: there is no internet here
    env = child_env({"RUNTIME__DLTHUB_TELEMETRY": "false"}, without=("AIRFLOW", "PLAN_METRICS"))
    started = time.perf_counter()
    out = subprocess.run(
        [python, "-P", str(Path(__file__).resolve()), "leg", leg, str(work), *extra],
        input=json.dumps({"base": base, "token": token}) + "\n",  # the token on stdin, not in argv
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    wall = time.perf_counter() - started
    (work.parent / f"{work.name}.log").write_text(out.stdout + out.stderr)
    if out.returncode:
        raise RuntimeError(f"{leg} leg failed (exit {out.returncode}): {out.stderr[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_s"] = round(wall, 3)
    shutil.rmtree(work, ignore_errors=True)  # keep the disk clean; the log stays
    return result


def _truth(store: Path) -> int:
    """Orders current at the clock, from the simulator's own store."""
    import sqlite3

    from simulator.world import parse_ts

    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as conn:
        return conn.execute(
            "select count(distinct record_id) from versions where entity = 'orders' and updated_at <= ?",
            [parse_ts(CLOCK)],
        ).fetchone()[0]


def drive(scales: list[float], dlt_python: str, extras: bool) -> list[dict]:
    from simulator.process import SimulatorProcess

    sim_dir = ROOT / "sim"
    results: list[dict] = []
    out_file = ROOT / "results.jsonl"
    order = sorted(set(scales), key=scales.index)
    rep = 0
    for scale in order:
        store = sim_dir / f"world-{42}-{scale:g}.sqlite"
        t_sim = time.perf_counter()
        with SimulatorProcess(sim_dir, seed=42, scale=scale, clock=CLOCK, log_path=ROOT / "simulator.log") as sim:
            sim_start = round(time.perf_counter() - t_sim, 1)
            truth = _truth(store)
            src = sim.source("kechuang_orders")
            print(f"scale {scale:g}: simulator up in {sim_start}s, {truth} orders at {CLOCK}", flush=True)
            for i in range(scales.count(scale)):
                legs = ["ours", "dlt"] if rep % 2 == 0 else ["dlt", "ours"]
                rep += 1
                row = {"scale": scale, "run": i + 1, "first": legs[0], "truth": truth}
                for leg in legs:
                    work = ROOT / "runs" / f"sf{scale:g}-{i + 1}-{leg}"
                    python = sys.executable if leg == "ours" else dlt_python
                    extra = [] if leg == "ours" else ["--disposition", "append"]
                    row[leg] = _run_leg(python, leg, src["base_url"], src["token"], work, extra)
                    print(f"  run {i + 1} {leg}: {row[leg]['total_s']} s", flush=True)
                results.append(row)
                with out_file.open("a") as f:
                    f.write(json.dumps(row) + "\n")
            if extras:  # dlt variants, once each: merge on order_id, and jsonl load files
                for name, extra in (
                    ("merge", ["--disposition", "merge"]),
                    ("jsonl", ["--disposition", "append", "--file-format", "jsonl"]),
                ):
                    work = ROOT / "runs" / f"sf{scale:g}-extra-{name}"
                    r = _run_leg(dlt_python, "dlt", src["base_url"], src["token"], work, extra)
                    row = {"scale": scale, "run": f"extra-{name}", "truth": truth, "dlt": r}
                    print(f"  extra dlt {name}: {r['total_s']} s", flush=True)
                    results.append(row)
                    with out_file.open("a") as f:
                        f.write(json.dumps(row) + "\n")
    return results


def table(results: list[dict]) -> str:
    lines = [
        "| scale | run | first | records | ours extract s | ours load s | ours total s "
        "| dlt total s (extract/normalize/load) | dlt/ours |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    main = [r for r in results if "ours" in r]
    for r in main:
        o, d = r["ours"], r["dlt"]
        steps = "/".join(str(d.get(k, "?")) for k in ("extract_s", "normalize_s", "load_s"))
        lines.append(
            f"| {r['scale']:g} | {r['run']} | {r['first']} | {o['distinct_orders']} | {o['extract_s']} "
            f"| {o['load_s']} | {o['total_s']} | {d['total_s']} ({steps}) | {d['total_s'] / o['total_s']:.2f} |"
        )
    lines.append("")
    lines.append("Medians:")
    lines.append("")
    lines.append("| scale | runs | records | ours extract s | ours load s | ours total s | dlt total s | dlt/ours |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for scale in sorted({r["scale"] for r in main}):
        rs = [r for r in main if r["scale"] == scale]
        med = statistics.median
        oe, ol, ot = (med(r["ours"][k] for r in rs) for k in ("extract_s", "load_s", "total_s"))
        dt = med(r["dlt"]["total_s"] for r in rs)
        ratio = med(r["dlt"]["total_s"] / r["ours"]["total_s"] for r in rs)
        lines.append(
            f"| {scale:g} | {len(rs)} | {rs[0]['truth']} | {oe:.3f} | {ol:.3f} | {ot:.3f} | {dt:.3f} "
            f"| {dt / ot:.2f} (median of per-run ratios {ratio:.2f}) |"
        )
    extras = [r for r in results if "ours" not in r]
    if extras:
        lines += [
            "",
            "dlt variants (one run each):",
            "",
            "| scale | variant | rows | total s (extract/normalize/load) |",
        ]
        lines.append("|---|---|---|---|")
        for r in extras:
            d = r["dlt"]
            steps = "/".join(str(d.get(k, "?")) for k in ("extract_s", "normalize_s", "load_s"))
            lines.append(f"| {r['scale']:g} | {r['run']} | {d['rows']} | {d['total_s']} ({steps}) |")
    return "\n".join(lines)


def check(results: list[dict]) -> list[str]:
    problems = []
    for r in results:
        for leg in ("ours", "dlt"):
            if leg in r and (r[leg]["rows"] != r["truth"] or r[leg]["distinct_orders"] != r["truth"]):
                problems.append(
                    f"scale {r['scale']:g} run {r['run']} {leg}: {r[leg]['rows']} rows, "
                    f"{r[leg]['distinct_orders']} distinct orders, simulator holds {r['truth']}"
                )
    return problems


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "leg":
        p = argparse.ArgumentParser()
        p.add_argument("leg", choices=["ours", "dlt"])
        p.add_argument("work", type=Path)
        p.add_argument("--disposition", default="append", choices=["append", "merge"])
        p.add_argument("--file-format", default=None)
        a = p.parse_args(argv[1:])
        given = json.loads(sys.stdin.readline())
        base, token = given["base"], given["token"]
        if a.leg == "ours":
            r = leg_ours(base, token, a.work)
        else:
            r = leg_dlt(base, token, a.work, a.disposition, a.file_format)
        print(json.dumps(r))
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scales", default="1,1,1,10,10", help="one entry per repetition")
    p.add_argument("--dlt-python", default=DLT_PYTHON)
    p.add_argument("--extras", action="store_true", help="also one dlt merge and one dlt jsonl run per scale")
    a = p.parse_args(argv)
    scales = [float(s) for s in a.scales.split(",")]
    ROOT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results = drive(scales, a.dlt_python, a.extras)
    print()
    print(table(results))
    problems = check(results)
    print()
    print("row counts: " + ("; ".join(problems) if problems else "both legs loaded exactly the simulator's orders"))
    print(f"took {time.perf_counter() - started:.0f} s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
