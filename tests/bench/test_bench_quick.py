"""GIVEN a tiny simulated world WHEN the benchmark's quick mode runs on it THEN it writes a
complete report (every section, every stage's memory, the table) whose volumes agree with the
simulator's own store and truth, and whose figures mean what they say: each rate is its
volume over its own time, each ratio the quotient of the two figures it names (to their
rounding), each part of a time inside the whole. How fast anything is, is never asserted (two
shared, noisy cores): that is what `make bench` measures."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from simulator import truth
from simulator.world import WorldConfig, parse_ts
from tests.conftest import assert_matches_truth

REPO = Path(__file__).resolve().parents[2]
SCALE = 0.05
STAGES = ("extract", "load", "dbt", "gate", "publish")


pytestmark = pytest.mark.timeout(600)  # the module's one bench run is its first test's set-up


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    out = tmp / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--scales", str(SCALE), "--work-dir", str(tmp / "work")]
        # the Airflow legs alone take minutes even at this scale; their readings are tested apart
        + ["--out", str(out), "--no-airflow", "--no-latency"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout, tmp / "work"


def _visible_records(store: Path, clock_iso: str) -> int:
    """Records whose first version exists at the clock: what a first full extract must land."""
    clock = int(datetime.fromisoformat(clock_iso).timestamp())
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as conn:
        return conn.execute(
            "select count(*) from (select distinct entity, record_id from versions where updated_at <= ?)", [clock]
        ).fetchone()[0]


def within(value: float, num: float, den: float, step: float, num_step: float = 0.0, den_step: float = 0.0) -> bool:
    """`value` is `num / den` rounded to `step`, where `num` and `den` are themselves the
    report's figures rounded to `num_step` / `den_step` (half a step either way each)."""
    low = (num - num_step / 2) / (den + den_step / 2)
    high = (num + num_step / 2) / (den - den_step / 2)
    return low - step / 2 - 1e-9 <= value <= high + step / 2 + 1e-9


def truth_at(clock_iso: str) -> dict:
    """The simulator's true metric values of the bench's world (seed 42, no faults) at a clock."""
    return truth.metric_values(WorldConfig(42, SCALE), parse_ts(clock_iso), sources=truth.ALL_SOURCES)


def _records_changed(store: Path, since_iso: str, until_iso: str) -> int:
    """Records with a new version after `since` up to `until`: what an incremental run must load."""
    since, until = (int(datetime.fromisoformat(c).timestamp()) for c in (since_iso, until_iso))
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as conn:
        return conn.execute(
            "select count(*) from (select distinct entity, record_id from versions where updated_at > ? and updated_at <= ?)",
            [since, until],
        ).fetchone()[0]


def test_extract_rates_are_the_records_each_side_fetched_over_its_own_time(bench_run):
    report, _, work = bench_run
    (scale,) = report["scales"]
    ex, bare = scale["full_refresh"]["stages"]["extract"], scale["baselines"]["bare_fetch"]
    measured = scale["extract"]
    # the extract received at least every record the simulator shows at the clock (a record
    # on a page boundary may come twice; the load keeps one version of it)
    store = work / "sim-cache" / f"world-42-{SCALE:g}.sqlite"
    assert measured["records"] == ex["api_records"] >= _visible_records(store, scale["clock_full"])
    # each rate is its side's records over its side's time (that both sides fetched the same
    # records is test_baselines_do_the_same_work_as_the_pipeline's)
    assert within(measured["records_per_s"], ex["api_records"], ex["api_seconds"], 0.1, den_step=0.001)
    assert within(measured["bare_records_per_s"], bare["records"], bare["seconds_work"], 0.1, den_step=0.001)
    assert within(measured["pipeline_over_bare_time"], ex["api_seconds"], bare["seconds_work"], 0.001)
    # the API part of the stage is part of the stage's work, and every endpoint's part of it
    assert sum(e["seconds"] for e in ex["endpoints"].values()) <= ex["api_seconds"] + 0.001 * len(ex["endpoints"])
    assert ex["api_seconds"] <= ex["seconds"] + 0.001


def test_load_rates_are_the_rows_each_side_wrote_over_its_own_time(bench_run):
    report, _, work = bench_run
    (scale,) = report["scales"]
    load, read = scale["full_refresh"]["stages"]["load"], scale["baselines"]["duckdb_read"]
    measured = scale["raw_load"]
    # the pipeline inserted one version per record the simulator shows at the clock (less
    # those it quarantined); DuckDB alone read every landed row
    quarantined = sum(t["quarantined"] for name, t in load["tables"].items() if name.startswith("raw."))
    store = work / "sim-cache" / f"world-42-{SCALE:g}.sqlite"
    assert measured["rows"] == load["api_rows_inserted"] == _visible_records(store, scale["clock_full"]) - quarantined
    assert read["rows"] == scale["extract"]["records"]
    assert within(measured["rows_per_s"], load["api_rows_inserted"], load["api_seconds"], 0.1, den_step=0.001)
    assert within(measured["duckdb_rows_per_s"], read["rows"], read["seconds_work"], 0.1, den_step=0.0001)
    assert within(measured["share_of_duckdb_rate"], measured["rows_per_s"], measured["duckdb_rows_per_s"], 0.001)
    assert load["api_seconds"] <= load["seconds"] + 0.001


def test_dbt_overhead_is_the_build_over_the_same_sql_run_directly(bench_run):
    report, _, _ = bench_run
    (scale,) = report["scales"]
    dbt, direct = scale["full_refresh"]["stages"]["dbt"], scale["baselines"]["direct_sql"]
    measured = scale["dbt"]
    nodes = json.loads(Path(scale["dbt_nodes_file"]).read_text())["nodes"]
    # the direct run executed the very models and tests dbt ran, none skipped
    assert direct["models"] == sum(n["resource_type"] == "model" for n in nodes)
    assert direct["tests"] == sum(n["resource_type"] == "test" for n in nodes)
    assert direct["skipped"] == 0 and dbt["nodes"] == len(nodes)
    # the direct time is its models' and tests' times; the ratio is the build over it
    assert measured["build_seconds"] == dbt["build_seconds"]
    assert abs(measured["direct_sql_seconds"] - (direct["models_seconds"] + direct["tests_seconds"])) <= 0.0015
    assert within(measured["dbt_overhead_ratio"], measured["build_seconds"], measured["direct_sql_seconds"], 0.001)
    assert dbt["build_seconds"] <= dbt["seconds"] + 0.001


def test_gate_share_is_the_gate_over_the_dbt_build_of_the_same_run(bench_run):
    report, _, _ = bench_run
    (scale,) = report["scales"]
    gate, dbt = scale["full_refresh"]["stages"]["gate"], scale["full_refresh"]["stages"]["dbt"]
    measured = scale["gate"]
    assert measured["gate_seconds"] == gate["gate_seconds"] and measured["passed"] is True
    assert within(measured["gate_over_dbt"], gate["gate_seconds"], dbt["build_seconds"], 0.001)
    assert gate["gate_seconds"] <= gate["seconds"] + 0.001


def test_every_stage_time_fits_inside_its_process_and_every_process_inside_the_bench(bench_run):
    # GIVEN every process the bench ran (pipeline stages of both runs, the three baselines)
    report, _, _ = bench_run
    (scale,) = report["scales"]
    processes = {
        **{f"full/{k}": v for k, v in scale["full_refresh"]["stages"].items()},
        **{f"incremental/{k}": v for k, v in scale["incremental_run"]["stages"].items()},
        **scale["baselines"],
    }
    # THEN each one's imports and work happened inside its own wall time (3-decimal rounding)
    late = {k: v for k, v in processes.items() if v["import_seconds"] + v["seconds"] > v["process_seconds"] + 0.0015}
    assert not late, late
    # AND they ran one after another inside the bench's own wall time (rounded to 0.1 s)
    assert sum(v["process_seconds"] for v in processes.values()) <= scale["bench_seconds"] + 0.05


def test_incremental_fraction_is_the_incremental_runs_wall_time_over_the_full_refreshs(bench_run):
    report, _, work = bench_run
    (scale,) = report["scales"]
    full, inc = scale["full_refresh"], scale["incremental_run"]
    measured = scale["incremental"]
    # each wall time is the sum of its run's stage processes (each rounded to 1 ms)
    for run, wall in ((full, measured["full_wall_seconds"]), (inc, measured["incremental_wall_seconds"])):
        assert abs(wall - sum(s["process_seconds"] for s in run["stages"].values())) <= 0.0005 * (
            len(run["stages"]) + 1
        )
    assert measured["stage_seconds"] == {k: v["process_seconds"] for k, v in inc["stages"].items()}
    assert within(
        measured["fraction_of_full"], measured["incremental_wall_seconds"], measured["full_wall_seconds"], 0.001
    )
    # AND the incremental run loaded exactly the records that changed between the two clocks
    # (one version each), having received at least those
    store = work / "sim-cache" / f"world-42-{SCALE:g}.sqlite"
    changed = _records_changed(store, scale["clock_full"], scale["clock_incremental"])
    load = inc["stages"]["load"]
    quarantined = sum(t["quarantined"] for name, t in load["tables"].items() if name.startswith("raw."))
    assert load["api_rows_inserted"] + quarantined == changed > 0
    assert measured["records_changed"] == inc["stages"]["extract"]["api_records"] >= changed
    assert measured["records_full"] == scale["extract"]["records"]


def test_the_warm_writer_runs_fork_the_writers_stages_with_dbt_and_gx_imported_and_publish_the_same(bench_run):
    # GIVEN the full refresh and the incremental run again, the writer's stages forked from the
    # warm writer (pipeline/writer_worker.py's imports), the extract a fresh process
    report, _, _ = bench_run
    (scale,) = report["scales"]
    warm = scale["warm_writer"]
    assert not warm.get("failed"), warm
    # THEN its fraction is its two walls' ratio, each the sum of its stages
    for run in ("full", "incremental"):
        stages = warm[f"{run}_stage_seconds"]
        assert set(stages) == {"extract", "load", "dbt", "gate", "publish"}
        assert warm[f"{run}_wall_seconds"] == pytest.approx(sum(stages.values()), abs=0.005)
    assert within(warm["fraction_of_full"], warm["incremental_wall_seconds"], warm["full_wall_seconds"], 0.001)
    # AND the build and the gate imported nothing (dbt and GX were there before the fork), where
    # the cold runs' processes paid for them
    cold = scale["incremental_run"]["stages"]
    for stage in ("dbt", "gate"):
        assert cold[stage]["import_seconds"] > 0.3
    log = Path(scale["dbt_nodes_file"]).parents[1]
    for run in ("warm-full", "warm-incremental"):
        for stage in ("dbt", "gate"):
            result = json.loads((log / run / f"{stage}.result.json").read_text())
            assert result["import_seconds"] < 0.05, (run, stage, result["import_seconds"])
    # AND the warm incremental run published what the cold one did, table for table
    warm_rows = json.loads((log / "warm-incremental" / "publish.result.json").read_text())["row_counts"]
    assert warm_rows == cold["publish"]["row_counts"]


def test_each_run_published_the_truth_of_its_clock(bench_run):
    # GIVEN the full refresh (at the first clock) and the incremental run (at the second) the bench timed
    report, _, work = bench_run
    (scale,) = report["scales"]
    first, second = truth_at(scale["clock_full"]), truth_at(scale["clock_incremental"])
    # THEN each published as many values as the truth holds at its clock, and the file the
    # dashboard was measured on holds the second clock's truth, value for value
    assert scale["full_refresh"]["stages"]["publish"]["row_counts"]["plan_metric_values"] == len(first)
    assert scale["incremental_run"]["stages"]["publish"]["row_counts"]["plan_metric_values"] == len(second)
    published = work / f"sf{SCALE:g}" / "full" / "published" / "plan_metrics.duckdb"
    with duckdb.connect(str(published), read_only=True) as conn:
        rows = conn.execute(
            "select metric_id, region_code, strftime(period_month, '%Y-%m-%d'), region_level, value, unit, publish_id "
            "from metrics.plan_metric_values"
        ).fetchall()
    assert_matches_truth({(m, r, p): (lvl, v, u, pid) for m, r, p, lvl, v, u, pid in rows}, second)


def test_dashboard_figures_are_of_the_published_file_and_fit_inside_the_bench(bench_run):
    report, _, work = bench_run
    (scale,) = report["scales"]
    dash = scale["dashboard"]
    published = work / f"sf{SCALE:g}" / "full" / "published" / "plan_metrics.duckdb"
    # the explorer's queries ran on the incremental run's published file, all of it
    assert dash["published_rows"] == scale["incremental_run"]["stages"]["publish"]["row_counts"]["plan_metric_values"]
    assert abs(dash["published_mb"] - published.stat().st_size / 2**20) <= 0.05
    assert 0 < dash["explorer_query_ms_median"] <= dash["explorer_query_ms_max"]
    # each browser time is a real measurement (the browser ran) and a part of the bench's time
    for key in ("first_page_seconds", "first_page_warm_seconds", "explorer_page_seconds", "server_start_seconds"):
        assert isinstance(dash.get(key), int | float), f"{key}: {dash.get(key)!r} ({dash.get('browser_error')})"
        assert 0 < dash[key] < scale["bench_seconds"], f"{key} = {dash[key]}"


def test_quick_report_has_peak_rss_of_every_stage(bench_run):
    report, _, _ = bench_run
    (scale,) = report["scales"]
    stages = scale["full_refresh"]["stages"]
    assert scale["memory_peak_rss_mb"] == {k: v["peak_rss_mb"] for k, v in stages.items()}
    assert set(scale["memory_peak_rss_mb"]) == set(STAGES)
    assert all(v > 10 for v in scale["memory_peak_rss_mb"].values())  # a Python process is never under 10 MB
    # a high-water mark only rises: the extract's API part was read before the whole stage's
    assert 10 < scale["extract"]["api_peak_rss_mb"] <= stages["extract"]["peak_rss_mb"]


def test_memory_growth_is_each_stages_peak_relative_to_the_smallest_scale():
    # GIVEN two scales' peaks (the quick run has one scale: its ratio to itself would prove nothing)
    from bench.report import add_growth

    small = {"scale": 1, "memory_peak_rss_mb": {st: 100.0 for st in STAGES}}
    large = {
        "scale": 100,
        "memory_peak_rss_mb": {"extract": 110.0, "load": 150.0, "dbt": 900.0, "gate": 200.0, "publish": 101.0},
    }
    # WHEN the growth is computed, in any order of scales
    growth = add_growth([large, small])
    # THEN each stage of each scale is divided by the same stage at the smallest scale
    assert growth["relative_to"] == "sf1"
    assert growth["peak_rss_ratio"]["sf100"] == {"extract": 1.1, "load": 1.5, "dbt": 9.0, "gate": 2.0, "publish": 1.01}
    assert growth["peak_rss_ratio"]["sf1"] == dict.fromkeys(STAGES, 1.0)


def test_full_refresh_loads_exactly_the_records_the_simulator_shows_at_the_full_clock(bench_run):
    report, _, work = bench_run
    (scale,) = report["scales"]
    load = scale["full_refresh"]["stages"]["load"]
    quarantined = sum(t["quarantined"] for name, t in load["tables"].items() if name.startswith("raw."))
    expected = _visible_records(work / "sim-cache" / f"world-42-{SCALE:g}.sqlite", scale["clock_full"])
    assert load["api_rows_inserted"] + quarantined == expected


def test_baselines_do_the_same_work_as_the_pipeline(bench_run):
    report, _, _ = bench_run
    (scale,) = report["scales"]
    extract = scale["full_refresh"]["stages"]["extract"]
    base = scale["baselines"]
    # the bare loop fetched the very pages the extractor fetched; DuckDB read the very files it landed
    assert base["bare_fetch"]["records"] == extract["api_records"]
    assert base["duckdb_read"]["rows"] == sum(e["rows_landed"] for e in extract["endpoints"].values())
    # the direct run executed every model dbt built
    dbt_models = json.loads((Path(report["scales"][0]["dbt_nodes_file"])).read_text())["nodes"]
    built = [n for n in dbt_models if n["resource_type"] == "model"]
    assert base["direct_sql"]["models"] == len(built)


def test_the_runs_the_bench_times_pass_the_gate_as_the_pipeline_would(bench_run):
    # GIVEN the full refresh and the incremental run the bench timed
    report, stdout, _ = bench_run
    (scale,) = report["scales"]
    # THEN both passed the quality gate (a blocked run is not the pipeline's timing), and the
    # report says so; the world's size and the simulator's memory are in the report too
    for run in ("full_refresh", "incremental_run"):
        assert scale[run]["stages"]["gate"]["passed"] is True, scale[run]["stages"]["gate"].get("message")
    assert "WARNING" not in stdout
    assert sum(scale["world_versions"].values()) > scale["extract"]["records"]
    assert scale["simulator_peak_rss_mb"] > 10


def test_incremental_run_sees_about_one_percent_of_the_records(bench_run):
    report, _, _ = bench_run
    inc = report["scales"][0]["incremental"]
    assert 0 < inc["records_changed"] <= 0.05 * inc["records_full"]


def test_quick_run_prints_the_table_with_the_targets(bench_run):
    report, stdout, _ = bench_run
    for line in ("extract time / bare time", "load rate / duckdb rate", "gate / dbt build", "incremental / full"):
        assert line in stdout and line in report["table"]
    assert f"SF{SCALE:g}" in report["table"]


def test_empty_run_loads_nothing_and_skips_the_build_the_gate_and_the_publish(bench_run):
    # GIVEN the run the bench makes right after the incremental one, at the same clock
    report, _, _ = bench_run
    scale = report["scales"][0]
    empty = scale["empty_run"]
    # THEN nothing was loaded, the dbt step found the live publish's inputs unchanged, and
    # neither the gate nor the publish ran (the DAG skips them)
    assert empty["rows_loaded"] == 0
    assert empty["skipped_build"] is True
    assert set(empty["stage_seconds"]) == {"extract", "load", "dbt"}
    # AND its cost is its stages' processes, each step's own time inside its process
    assert empty["seconds"] == pytest.approx(sum(empty["stage_seconds"].values()), abs=0.01)
    for stage, work in empty["stage_work_seconds"].items():
        assert work <= empty["stage_seconds"][stage]
    # AND the published file is still the incremental run's
    from bench.standalone import publish_ids

    published = Path(scale["dbt_nodes_file"]).parents[2] / "full" / "published" / "plan_metrics.duckdb"
    assert publish_ids(published)[-1] == scale["incremental_run"]["stages"]["publish"]["publish_id"]


def test_full_refresh_over_bare_tools_is_the_full_walls_over_the_sum_of_its_parts_bare_times(bench_run):
    report, _, _ = bench_run
    over = report["scales"][0]["full_refresh_over_bare"]
    bare = sum(p["bare_seconds"] for p in over["parts"].values())
    assert over["bare_tools_seconds"] == pytest.approx(bare, abs=0.002)
    assert over["pipeline_seconds"] == report["scales"][0]["full_refresh"]["wall_seconds"]
    assert within(over["over_bare_tools"], over["pipeline_seconds"], over["bare_tools_seconds"], 0.001, 0.001, 0.001)


def test_the_report_carries_issue_27s_figures_as_numbers(bench_run):
    # GIVEN the JSON report of a quick run (its Airflow legs off, so freshness is not measured)
    report, _, _ = bench_run
    # THEN each figure issue 27 asks for is at the top, a number or, when not measured, None
    for section, key in (
        ("incremental", "fraction_of_full"),
        ("incremental_warm_writer", "fraction_of_full"),
        ("full_refresh", "over_bare_tools"),
        ("empty_run", "seconds"),
        ("freshness", "upload_to_published_seconds"),
    ):
        assert key in report[section], section
        value = report[section][key]
        assert value is None if section == "freshness" else isinstance(value, int | float), (section, value)
    assert report["incremental"]["fraction_of_full"] == report["scales"][0]["incremental"]["fraction_of_full"]
    warm = report["scales"][0]["warm_writer"]["fraction_of_full"]
    assert report["incremental_warm_writer"]["fraction_of_full"] == warm


def test_headline_takes_each_figure_from_the_largest_scale_that_measured_it():
    # GIVEN two scales: only the smaller measured freshness, both the rest
    from bench.report import headline

    small = {
        "scale": 1,
        "freshness": {"upload_to_published_seconds": {"median": 20.0, "max": 31.5}},
        "incremental": {"fraction_of_full": 0.5},
        "full_refresh_over_bare": {"over_bare_tools": 9.0},
        "empty_run": {"seconds": 1.5},
    }
    large = {**small, "scale": 10, "freshness": {"failed": True}, "incremental": {"fraction_of_full": 0.3}}
    # WHEN the report's headline is made
    got = headline([small, large])
    # THEN freshness is the slowest upload of the scale that has it, the rest the larger scale's
    assert got["freshness"] == {"upload_to_published_seconds": 31.5, "median_seconds": 20.0, "scale": 1}
    assert got["incremental"] == {"fraction_of_full": 0.3, "scale": 10}
    assert got["full_refresh"]["over_bare_tools"] == 9.0
    assert got["empty_run"]["seconds"] == 1.5


def test_task_durations_sum_what_airflow_recorded_in_its_sqlite_metadata(tmp_path):
    # GIVEN task_instance rows as Airflow 3 writes them to SQLite (naive UTC text timestamps)
    from bench.airflow_e2e import task_durations

    db = tmp_path / "airflow.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table task_instance (dag_id, task_id, state, start_date, end_date)")
        conn.executemany(
            "insert into task_instance values (?, ?, ?, ?, ?)",
            [
                ("d", "read", "success", "2026-11-28 18:48:46.968347", "2026-11-28 18:48:54.280981"),
                ("d", "load", "success", "2026-11-28 18:59:59.500000", "2026-11-28 19:00:01.000000"),
                ("d", "never_ran", None, None, None),
            ],
        )
    # WHEN the benchmark reads it
    got = task_durations(db)
    # THEN only tasks that ran count, and their durations add up (7.312634 s + 1.5 s)
    assert got["task_instances"] == 2
    assert got["sum_task_seconds"] == pytest.approx(8.813, abs=0.001)
