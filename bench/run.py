"""One scale factor, measured: a simulated world, a full refresh, the bare baselines, a ~1 %
incremental run and the pipeline under Airflow.

The simulator starts at the end of the plan period so its store is built, then its clock
is moved back to the instant before which 99 % of the record versions visible at the end
were published (T0). The full refresh runs at T0 in a fresh data folder; moving the clock
to the end (T1) then makes ~1 % of the versions new or changed, and the incremental run
picks them up in the same folder. The Airflow run (fresh data folder and AIRFLOW_HOME)
reads the world at T1.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.airflow_e2e import QUIET, REPO, run_pipeline
from extract.beijing_time import iso

PIPELINE_STAGES = ("extract", "load", "dbt", "gate", "publish")
# the stages the deployment runs on its one DuckDB writer (pipeline/writer_worker.py)
WRITER_STAGES = ("load", "dbt", "gate", "publish")


class WarmWriter:
    """The writer worker as the deployment runs it: `python -m bench.stage --serve` imports dbt
    and Great Expectations once (pipeline/writer_worker.py), then forks each stage it is
    handed. Its stages' wall is fork + work; every other stage stays a fresh process."""

    def __init__(self, data_dir: Path, log: Path, env_extra: dict | None = None):
        from settings import child_env

        env = child_env(without=("AIRFLOW",))
        env["PLAN_METRICS_DATA_DIR"] = str(data_dir)
        env.update(QUIET)
        env.update(env_extra or {})
        log.parent.mkdir(parents=True, exist_ok=True)
        self.data_dir, self.log = data_dir, log.open("a", encoding="utf-8")
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.stage", "--serve"],
            env=env, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True,
        )  # fmt: skip
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the warm writer did not start: see {log}")
        self.start_seconds = round(time.perf_counter() - started, 3)

    def run(self, name: str, params_file: Path, result_file: Path) -> int:
        self.proc.stdin.write(f"{name} {params_file} {result_file}\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline().strip() or 1)

    def __enter__(self) -> WarmWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.log.close()


DROPS_SCALE_CAP = 10.0


def _stage(
    name: str,
    params: dict,
    workdir: Path,
    env_data_dir: Path,
    env_extra: dict | None = None,
    warm: WarmWriter | None = None,
) -> dict:
    """Run one stage in a fresh process (forked from the warm writer when one is given and the
    stage is the writer's); its result plus the process's wall time. A stage that fails is
    reported as failed (with the end of its log), never as a time."""
    from settings import child_env

    workdir.mkdir(parents=True, exist_ok=True)
    pfile, rfile = workdir / f"{name}.params.json", workdir / f"{name}.result.json"
    pfile.write_text(json.dumps(params))
    rfile.unlink(missing_ok=True)
    env = child_env(without=("AIRFLOW",))
    env["PLAN_METRICS_DATA_DIR"] = str(env_data_dir)
    env.update(QUIET)
    env.update(env_extra or {})
    if warm is not None and name in WRITER_STAGES:
        assert warm.data_dir == env_data_dir and not env_extra, "the warm writer serves one data folder"
        started = time.perf_counter()
        code = warm.run(name, pfile, rfile)
        wall = time.perf_counter() - started
        if code or not rfile.exists():
            return {"failed": True, "error": f"exit {code}", "log": warm.log.name}
        return {**json.loads(rfile.read_text()), "process_seconds": round(wall, 3), "forked_from_warm_writer": True}
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "bench.stage", name, str(pfile), str(rfile)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    (workdir / f"{name}.log").write_text(out.stdout + out.stderr)
    if out.returncode or not rfile.exists():
        return {
            "failed": True,
            "error": f"exit {out.returncode}: {out.stderr[-1500:]}",
            "log": str(workdir / f"{name}.log"),
        }
    return {**json.loads(rfile.read_text()), "process_seconds": round(wall, 3)}


def _one_percent_instant(store: Path, end: int) -> int:
    """The epoch second before which 99 % of the versions visible at `end` were published."""
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as conn:
        n = conn.execute("select count(*) from versions where updated_at <= ?", [end]).fetchone()[0]
        k = max(1, n // 100)
        return conn.execute(
            "select updated_at from versions where updated_at <= ? order by updated_at desc limit 1 offset ?",
            [end, k],
        ).fetchone()[0]


def _world_versions(store: Path) -> dict[str, int]:
    """Record versions the simulator holds, per entity (what a full history load receives)."""
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as conn:
        return dict(conn.execute("select entity, count(*) from versions group by 1 order by 1").fetchall())


def _peak_rss_of(pid: int) -> float | None:
    """VmHWM (peak resident set) of a running process, in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def _iso(epoch: int) -> str:
    return iso(datetime.fromtimestamp(epoch, tz=UTC))


def pipeline_pass(
    tag: str,
    data_dir: Path,
    sim_info: dict,
    incoming: Path,
    clock: int,
    logs: Path,
    env_extra: dict | None = None,
    preimport: bool = True,
    warm: WarmWriter | None = None,
) -> dict:
    """extract → load → dbt → gate → publish, each in its own process, as the DAGs call them
    (the gate and the publish not at all when the dbt step found the inputs of the live
    publish unchanged: the DAG skips them)."""
    working_db = data_dir / "warehouse" / "plan_metrics_work.duckdb"
    base = {
        "landing_root": str(data_dir / "landing"),
        "working_db": str(working_db),
        "sources": sim_info["sources"],
        "incoming": str(incoming),
        "run_key": f"bench-{tag}",
        "urls_file": str(logs / "urls.json"),
        "nodes_file": str(logs / "dbt_nodes.json"),
        "run_id": f"bench-{tag}",
        "as_of": _iso(clock),
        "published_db": str(data_dir / "published" / "plan_metrics.duckdb"),
        "preimport": preimport,
    }
    stages = {}
    for name in PIPELINE_STAGES:
        if name in ("gate", "publish") and stages["dbt"].get("unchanged_since"):
            continue
        params = dict(base)
        if name == "publish":
            params.update(
                checks_passed=stages["gate"].get("checks_passed"),
                checks_failed=stages["gate"].get("checks_failed"),
                invocation_id=stages["dbt"].get("invocation_id"),
                inputs=stages["dbt"].get("inputs"),
            )
        stages[name] = _stage(name, params, logs, data_dir, env_extra, warm)
        if stages[name].get("failed"):  # the pass stops where the pipeline would
            return {"stages": stages, "failed_stage": name, "ok": False}
    return {
        "stages": stages,
        "ok": True,
        "wall_seconds": round(sum(s["process_seconds"] for s in stages.values()), 3),
        "work_seconds": round(sum(s["seconds"] for s in stages.values()), 3),
    }


def empty_run(data_dir: Path, sim_info: dict, incoming: Path, clock: int, logs: Path) -> dict:
    """A run right after the incremental one, at the same clock: nothing new at any source.
    Each stage in its own process importing only what it needs (`preimport` off: the dbt step
    must not import dbt to find that nothing changed); `seconds` is the worker time (the
    processes' wall, interpreter start-up included), `work_seconds` the steps' own."""
    run = pipeline_pass("empty", data_dir, sim_info, incoming, clock, logs, preimport=False)
    if not run["ok"]:
        return {"failed": True, "failed_stage": run.get("failed_stage"), "stages": run["stages"]}
    st = run["stages"]
    return {
        "seconds": run["wall_seconds"],
        "work_seconds": run["work_seconds"],
        "stage_seconds": {k: v["process_seconds"] for k, v in st.items()},
        "stage_work_seconds": {k: v["seconds"] for k, v in st.items()},
        "skipped_build": bool(st["dbt"].get("unchanged_since")),
        "records_received": st["extract"]["api_records"],
        "rows_loaded": st["load"]["rows_inserted"],
        "target": "< 2 s of worker time, and no dbt, gate or publish",
    }


def _copy_db(src: Path, dst_dir: Path) -> Path:
    """A copy under the same file name, so the catalog name in dbt's compiled SQL resolves."""
    dst_dir.mkdir(parents=True, exist_ok=True)
    dst = dst_dir / src.name
    for suffix in ("", ".wal"):
        s = Path(str(src) + suffix)
        if s.exists():
            shutil.copyfile(s, Path(str(dst) + suffix))
    return dst


def run_scale(
    scale: float,
    root: Path,
    seed: int = 42,
    airflow: bool = True,
    memory_limit: str | None = None,
    latency: bool = True,
    freshness: bool = True,
) -> dict:
    from simulator.process import SimulatorProcess  # the benchmark, not the pipeline, drives the simulator
    from simulator.world import WORLD_END

    sdir = root / f"sf{scale:g}"
    if sdir.exists():
        shutil.rmtree(sdir)
    incoming = sdir / "incoming"
    end = int(WORLD_END.timestamp())
    # The spreadsheets are held at SF10 at most: the simulator renders ~100 report files a
    # second, so SF100's 150 k files would cost half an hour per clock move. Visits and
    # orders (the volume that matters) come from the APIs at the full scale.
    drops_scale = min(scale, DROPS_SCALE_CAP)
    report: dict = {"scale": scale, "seed": seed, "drops_scale": drops_scale}
    started = time.perf_counter()
    store = root / "sim-cache" / f"world-{seed}-{scale:g}.sqlite"
    # the generated world is cached across bench runs (keyed by seed and scale)
    with SimulatorProcess(
        root / "sim-cache", seed=seed, scale=scale, incoming=incoming, drops_scale=drops_scale
    ) as sim:
        report["simulator_start_seconds"] = round(time.perf_counter() - started, 3)
        report["world_versions"] = _world_versions(store)
        t0 = _one_percent_instant(store, end)
        report["clock_full"], report["clock_incremental"] = _iso(t0), _iso(end)
        sim.set_clock(_iso(t0))

        # --- full refresh at T0 (fresh data folder) and the baselines on the same files ----
        full_dir, logs = sdir / "full", sdir / "logs" / "full"
        full = pipeline_pass("full", full_dir, sim.info, incoming, t0, logs)
        report["full_refresh"] = full
        if not full["ok"]:
            report["failed"] = f"the full refresh failed at its {full['failed_stage']} stage"
            return report
        bare, read, direct = _baselines(report, full, sdir, sim, incoming)

        # --- the same full refresh with every DuckDB connection held to `memory_limit` ------
        if memory_limit:
            report["memory_limited"] = _memory_limited(sdir, sim, incoming, t0, memory_limit)

        # --- ~1 % later: the incremental run in the same folder ----------------------------
        sim.set_clock(_iso(end))
        inc = pipeline_pass("incremental", full_dir, sim.info, incoming, end, sdir / "logs" / "incremental")
        report["incremental_run"] = inc
        # --- and once more with nothing new: what an empty run costs ------------------------
        report["empty_run"] = empty_run(full_dir, sim.info, incoming, end, sdir / "logs" / "empty")

        # --- the same two runs with the writer's stages forked from a warm writer, as the
        # deployment runs them (pipeline/writer_worker.py), in a folder of their own ----------
        report["warm_writer"] = warm_writer_passes(sdir, sim, incoming, t0, end)

        # --- the dashboard on the published file of the incremental run ---------------------
        from bench.dashboard import measure as measure_dashboard

        report["dashboard"] = measure_dashboard(
            full_dir / "published" / "plan_metrics.duckdb", sdir / "logs" / "dashboard.log"
        )

        # --- the same world at T1 through Airflow, from nothing ------------------------------
        if airflow:
            report["airflow"] = run_pipeline(sdir / "airflow", incoming, sim.airflow_connections())
        # --- what a reader waits for after a change, under the real scheduler ---------------
        if latency:
            report["reader_latency"] = measure_latency(sdir / "latency", incoming, sim, t0, end)
        # --- how soon a finished upload is published (the drop folders' watcher) -------------
        if latency and freshness:
            from bench.freshness import measure as measure_freshness

            report["freshness"] = measure_freshness(sdir / "freshness", incoming, sim)
        # the simulator's own high-water mark after serving every pass (flat memory is its promise)
        report["simulator_peak_rss_mb"] = _peak_rss_of(sim.info["pid"])
    return _conclude(report, sdir, full, inc, (bare, read, direct))


def warm_writer_passes(sdir: Path, sim, incoming: Path, t0: int, end: int) -> dict:
    """The full refresh at T0 and the incremental run at T1 again, the writer's stages (load,
    dbt, gate, publish) forked from one warm writer; the extract a fresh process as before.
    Leaves the simulator's clock at T1, where it was."""
    warm_dir, logs = sdir / "warm", sdir / "logs"
    try:
        with WarmWriter(warm_dir, logs / "warm-writer.log") as warm:
            sim.set_clock(_iso(t0))
            full = pipeline_pass("warm-full", warm_dir, sim.info, incoming, t0, logs / "warm-full", warm=warm)
            sim.set_clock(_iso(end))
            inc = pipeline_pass("warm-incremental", warm_dir, sim.info, incoming, end, logs / "warm-incremental",
                                warm=warm)  # fmt: skip
            start = warm.start_seconds
    except Exception as exc:  # reported as failed, never as a time
        sim.set_clock(_iso(end))
        return {"failed": True, "error": str(exc)[-1500:]}
    finally:
        shutil.rmtree(warm_dir, ignore_errors=True)
    if not (full["ok"] and inc["ok"]):
        return {"failed": True, "failed_stage": full.get("failed_stage") or inc.get("failed_stage")}
    return {
        "writer_start_seconds": start,
        "full_wall_seconds": full["wall_seconds"],
        "incremental_wall_seconds": inc["wall_seconds"],
        "fraction_of_full": _ratio(inc["wall_seconds"], full["wall_seconds"]),
        "full_stage_seconds": {k: v["process_seconds"] for k, v in full["stages"].items()},
        "incremental_stage_seconds": {k: v["process_seconds"] for k, v in inc["stages"].items()},
        "incremental_work_seconds": {k: v["seconds"] for k, v in inc["stages"].items()},
    }


def _baselines(report: dict, full: dict, sdir: Path, sim, incoming: Path) -> tuple[dict, dict, dict]:
    """The bare tools on the very files of the full refresh (bare fetch, bare parse, DuckDB's own
    read, the compiled SQL run directly): what the ratios of the report are measured against."""
    full_dir, logs = sdir / "full", sdir / "logs" / "full"
    common = {"sources": sim.info["sources"], "landing_root": str(full_dir / "landing")}
    bare = _stage("bare_fetch", {**common, "urls_file": str(logs / "urls.json")}, logs, full_dir)
    report["drops"] = drops_figures(full["stages"]["extract"], _stage("bare_parse", {"incoming": str(incoming)},
                                                                     logs, full_dir))  # fmt: skip
    read = _stage("duckdb_read", {**common, "scratch_db": str(sdir / "scratch" / "read.duckdb")}, logs, full_dir)
    # direct SQL on a copy of the database dbt built (dbt's target dir holds the compiled SQL)
    working = full_dir / "warehouse" / "plan_metrics_work.duckdb"
    direct_db = _copy_db(working, sdir / "direct")
    direct = _stage(
        "direct_sql", {"target_dir": str(full_dir / "dbt" / "target"), "db": str(direct_db)}, logs, full_dir
    )
    shutil.rmtree(sdir / "scratch", ignore_errors=True)
    shutil.rmtree(sdir / "direct", ignore_errors=True)
    return bare, read, direct


def _memory_limited(sdir: Path, sim, incoming: Path, t0: int, memory_limit: str) -> dict:
    """The full refresh again in a folder of its own, every DuckDB connection held to `memory_limit`."""
    limited = pipeline_pass(
        "limited", sdir / "limited", sim.info, incoming, t0, sdir / "logs" / "limited",
        {"PLAN_METRICS_DUCKDB_MEMORY_LIMIT": memory_limit},
    )  # fmt: skip
    shutil.rmtree(sdir / "limited", ignore_errors=True)
    return {
        "limit": memory_limit,
        "ok": limited["ok"],
        "failed_stage": limited.get("failed_stage"),
        "wall_seconds": limited.get("wall_seconds"),
        "peak_rss_mb": {k: v.get("peak_rss_mb") for k, v in limited["stages"].items()},
    }


def _conclude(report: dict, sdir: Path, full: dict, inc: dict, baselines: tuple[dict, dict, dict]) -> dict:
    """The figures of a scale whose runs all completed, else what failed."""
    bare, read, direct = baselines
    if inc["ok"] and all(not b.get("failed") for b in (bare, read, direct)):
        report.update(summarise(full, inc, bare, read, direct))
        report["full_refresh_over_bare"] = over_bare_tools(full, bare, read, direct, report.get("drops", {}))
    else:
        report["failed"] = "a baseline or the incremental run failed: " + ", ".join(
            n for n, b in (("bare_fetch", bare), ("duckdb_read", read), ("direct_sql", direct), ("incremental", inc))
            if b.get("failed") or b.get("ok") is False
        )  # fmt: skip
    report["dbt_nodes_file"] = str(sdir / "logs" / "full" / "dbt_nodes.json")
    report["baselines"] = {"bare_fetch": bare, "duckdb_read": read, "direct_sql": direct}
    return report


def measure_latency(work: Path, incoming: Path, sim, t0: int, end: int) -> dict:
    """Under the real scheduler (`airflow standalone`): the orders DAG and transform_publish
    unpaused from nothing at T0; once that is published, the source moves to T1 and the
    seconds until a reader sees the new publish are measured (bench/standalone.py)."""
    from bench.airflow_e2e import pipeline_env
    from bench.standalone import LATENCY_MARGIN_SECONDS, Standalone, reader_latency
    from extract.sources import SOURCES

    sim.set_clock(_iso(t0))
    env = pipeline_env(work / "data", incoming, sim.airflow_connections())
    env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "True"
    af = Standalone(work / "airflow", env)
    published = work / "data" / "published" / "plan_metrics.duckdb"
    try:
        af.start()
        af.wait_for_dags(["extract_kechuang_orders", "transform_publish"])
        af.api("PATCH", "/dags/transform_publish", json={"is_paused": False})
        af.api("PATCH", "/dags/extract_kechuang_orders", json={"is_paused": False})
        af.wait_for_runs("transform_publish", 1, timeout=3600)
        measured = reader_latency(af, "extract_kechuang_orders", lambda: sim.set_clock(_iso(end)), published)
    except Exception as exc:  # reported as failed, never as a time
        return {"failed": True, "error": str(exc)[-1500:]}
    finally:
        af.stop()
    cadence = SOURCES["kechuang_orders"].cadence.period.total_seconds()
    return {
        "source": "kechuang_orders",
        "cadence_seconds": cadence,
        "change_to_publish_seconds": measured["seconds"],
        "target_change_to_publish_seconds": LATENCY_MARGIN_SECONDS,
        "worst_case_seconds": cadence + measured["seconds"],
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def drops_figures(extract: dict, bare: dict) -> dict:
    """The drops stage (isolated parse workers) against a bare parse of the same files in one
    process with the same reader, and the two readers side by side."""
    if bare.get("failed") or not extract.get("drops"):
        return {"failed": bare.get("error", "no drops stage")}
    isolated = sum(d["seconds"] for d in extract["drops"].values())
    readers = bare["readers"]
    return {
        "files": bare["files"],
        "isolated_seconds": round(isolated, 3),
        "bare_parse_seconds": bare["seconds"],
        "isolated_over_bare_parse": _ratio(isolated, bare["seconds"]),
        "reader_seconds": {"calamine": readers["calamine"]["seconds"], "openpyxl": readers["openpyxl"]["seconds"]},
        "openpyxl_over_calamine": readers["openpyxl_over_calamine"],
        "target": "isolated <= 1.5x the bare parse at SF10",
    }


def over_bare_tools(full: dict, bare: dict, read: dict, direct: dict, drops: dict) -> dict:
    """The full refresh's wall (every stage's process, start-up and imports included) against
    the bare tools doing the same work in the same run: the API pages fetched with bare
    requests, the drop files parsed in one process, the landed files read by DuckDB's
    read_json, the dbt models' compiled SQL run directly (the gate and the publish have no bare
    counterpart: their whole time is overhead). Each part: (pipeline s, bare s)."""
    st = full["stages"]
    ex = st["extract"]
    drops_s = sum(d["seconds"] for d in ex.get("drops", {}).values())
    parts = {
        "extract_api": (ex["api_seconds"], bare["seconds_work"]),
        "extract_drops": (round(drops_s, 3), drops.get("bare_parse_seconds") or 0.0),
        "extract_process_rest": (round(st["extract"]["process_seconds"] - ex["api_seconds"] - drops_s, 3), 0.0),
        "load": (st["load"]["process_seconds"], read["seconds_work"]),
        "dbt": (st["dbt"]["process_seconds"], direct["sql_seconds"]),
        "gate": (st["gate"]["process_seconds"], 0.0),
        "publish": (st["publish"]["process_seconds"], 0.0),
    }
    pipeline_s = full["wall_seconds"]
    bare_s = round(sum(b for _, b in parts.values()), 3)
    return {
        "over_bare_tools": _ratio(pipeline_s, bare_s),
        "pipeline_seconds": pipeline_s,
        "bare_tools_seconds": bare_s,
        "parts": {k: {"pipeline_seconds": a, "bare_seconds": b} for k, (a, b) in parts.items()},
        "target": "<= 3 at SF10",
    }


def summarise(full: dict, inc: dict, bare: dict, read: dict, direct: dict) -> dict:
    st = full["stages"]
    ex, ld, dbt, gate = st["extract"], st["load"], st["dbt"], st["gate"]
    return {
        "extract": {
            "records": ex["api_records"],
            "api_peak_rss_mb": ex.get("api_peak_rss_mb"),
            "records_per_s": ex["api_records_per_s"],
            "bare_records_per_s": round(bare["records"] / bare["seconds_work"], 1) if bare["seconds_work"] else None,
            "pipeline_over_bare_time": _ratio(ex["api_seconds"], bare["seconds_work"]),
            "target": "<= 1.25 at SF100",
        },
        "raw_load": {
            "rows": ld["api_rows_inserted"],
            "rows_per_s": ld["api_rows_per_s"],
            "duckdb_rows_per_s": read["rows_per_s"],
            "share_of_duckdb_rate": _ratio(ld["api_rows_per_s"], read["rows_per_s"]),
            "target": ">= 0.5 at SF1 and SF10",
        },
        "dbt": {
            "build_seconds": dbt["build_seconds"],
            "node_seconds_by_type": dbt["node_seconds_by_type"],
            "slowest_models": dbt["slowest_models"],
            "direct_sql_seconds": direct["sql_seconds"],
            "direct_models_seconds": direct["models_seconds"],
            "direct_tests_seconds": direct["tests_seconds"],
            "direct_slowest_models": direct["slowest_models"],
            "dbt_overhead_ratio": _ratio(dbt["build_seconds"], direct["sql_seconds"]),
        },
        "gate": {
            "gate_seconds": gate["gate_seconds"],
            "import_seconds": gate["import_seconds"],
            "passed": gate["passed"],
            "gate_over_dbt": _ratio(gate["gate_seconds"], dbt["build_seconds"]),
            "gate_with_imports_over_dbt_with_imports": _ratio(
                gate["gate_seconds"] + gate["import_seconds"], dbt["build_seconds"] + dbt["import_seconds"]
            ),
            "target": "<= 0.25 at SF10",
        },
        "incremental": {
            "full_wall_seconds": full["wall_seconds"],
            "incremental_wall_seconds": inc["wall_seconds"],
            "fraction_of_full": _ratio(inc["wall_seconds"], full["wall_seconds"]),
            "fraction_of_full_work_only": _ratio(inc["work_seconds"], full["work_seconds"]),
            "records_changed": inc["stages"]["extract"]["api_records"],
            "records_full": ex["api_records"],
            "stage_seconds": {k: v["process_seconds"] for k, v in inc["stages"].items()},
            "target": "<= 0.10 at SF10, <= 0.05 at SF100",
        },
        "memory_peak_rss_mb": {k: v["peak_rss_mb"] for k, v in st.items()},
    }
