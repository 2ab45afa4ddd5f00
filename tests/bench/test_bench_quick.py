"""GIVEN a tiny simulated world WHEN the benchmark's quick mode runs on it THEN it writes a
complete report (every section, every stage's memory, the table) whose volumes agree with the
simulator's own store. Timings are reported, never asserted: this only keeps `make bench` from rotting."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

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


@pytest.mark.parametrize(
    "section, keys",
    [
        pytest.param("extract", ["records_per_s", "bare_records_per_s", "pipeline_over_bare_time"], id="extract"),
        pytest.param("raw_load", ["rows_per_s", "duckdb_rows_per_s", "share_of_duckdb_rate"], id="raw_load"),
        pytest.param("dbt", ["build_seconds", "direct_sql_seconds", "dbt_overhead_ratio"], id="dbt"),
        pytest.param("gate", ["gate_seconds", "gate_over_dbt"], id="gate"),
        pytest.param("incremental", ["full_wall_seconds", "incremental_wall_seconds", "fraction_of_full"], id="incr"),
        pytest.param(
            "dashboard", ["explorer_query_ms_median", "first_page_seconds", "explorer_page_seconds"], id="dashboard"
        ),
    ],
)
def test_quick_report_has_every_measure_as_a_positive_number(bench_run, section, keys):
    report, _, _ = bench_run
    (scale,) = report["scales"]
    assert scale["scale"] == SCALE
    for key in keys:
        value = scale[section][key]
        assert isinstance(value, int | float) and value > 0, f"{section}.{key} = {value!r}"


def test_quick_report_has_peak_rss_of_every_stage(bench_run):
    report, _, _ = bench_run
    (scale,) = report["scales"]
    assert set(scale["memory_peak_rss_mb"]) == set(STAGES)
    assert all(v > 10 for v in scale["memory_peak_rss_mb"].values())  # a Python process is never under 10 MB


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
