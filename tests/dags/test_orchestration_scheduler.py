"""The pipeline under Airflow's real scheduler: `airflow standalone` (api-server, scheduler,
dag-processor, triggerer; LocalExecutor, SQLite) started by `scripts/airflow_standalone.sh`,
driven only through the REST API, against the simulator over HTTP.

One Airflow installation serves the module, in order:
1. unpausing the orders DAG and transform_publish schedules the latest hourly interval; its
   raw Asset triggers transform_publish; what is published equals the simulator's truth
   (the other sources' DAGs stay paused: their extraction has its own tests, and this
   test has to stay within minutes on two cores);
2. a backfill that re-runs that interval after the source changed reproduces exactly the
   tables the interval produced (the landing zone kept what it received);
3. a manually triggered run then picks up the change and publishes the new truth;
4. stopping Airflow leaves no process behind.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from bench.standalone import LATENCY_MARGIN_SECONDS, Standalone, reader_latency
from extract.sources import SOURCES
from simulator import truth
from simulator.process import SimulatorProcess
from simulator.world import WorldConfig, parse_ts
from tests.conftest import Pipeline, assert_matches_truth

pytestmark = [pytest.mark.airflow, pytest.mark.timeout(900)]

SEED, SCALE = 5, 0.1
CLOCK_1 = "2021-03-31T23:59:59+08:00"
CLOCK_2 = "2021-12-31T23:59:59+08:00"
EXTRACT, TRANSFORM = "extract_kechuang_orders", "transform_publish"
RAW_TABLES = ("raw.kechuang_orders__orders", "raw.kechuang_orders__service_teams")


def expected(clock: str) -> dict:
    # only the orders DAG is unpaused here (the other sources' DAGs stay paused), so the truth is S3's
    return truth.metric_values(WorldConfig(SEED, SCALE), parse_ts(clock), sources=("S3",))


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def raw_snapshot(db: Path) -> dict:
    """Every raw row (bookkeeping load times aside), sorted: equal snapshots = identical tables."""
    with duckdb.connect(str(db), read_only=True) as conn:
        return {
            t: sorted(map(repr, conn.execute(f"select * exclude (_loaded_at) from {t}").fetchall())) for t in RAW_TABLES
        }


def landing_snapshot(root: Path) -> dict:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    base = tmp_path_factory.mktemp("scheduler")
    with SimulatorProcess(base / "sim", seed=SEED, scale=SCALE, clock=CLOCK_1) as sim:
        pipeline = Pipeline(base / "data", sim)
        env = {**pipeline.env, "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True"}
        af = Standalone(base / "airflow", env)
        af.pipeline = pipeline
        try:
            af.start()
            af.wait_for_dags([EXTRACT, TRANSFORM])
            yield af
        finally:
            af.leftovers_after_stop = af.stop()


def test_unpaused_pipeline_runs_the_scheduled_interval_and_the_asset_triggered_publish_equals_the_truth(airflow):
    # WHEN the orders extract and transform_publish are unpaused through the REST API
    started = time.monotonic()
    airflow.api("PATCH", f"/dags/{TRANSFORM}", json={"is_paused": False})
    airflow.api("PATCH", f"/dags/{EXTRACT}", json={"is_paused": False})
    # THEN the scheduler runs the latest hourly interval, and its raw Asset triggers the publish
    (extract_run,) = airflow.wait_for_runs(EXTRACT, 1)
    (transform_run,) = airflow.wait_for_runs(TRANSFORM, 1)
    wall = time.monotonic() - started
    assert extract_run["run_type"] == "scheduled"
    assert ts(extract_run["data_interval_end"]) - ts(extract_run["data_interval_start"]) == timedelta(hours=1)
    assert transform_run["run_type"] == "asset_triggered"
    # AND what it published is the simulator's truth
    assert_matches_truth(airflow.pipeline.published_values(), expected(CLOCK_1))

    tis = airflow.task_instances(EXTRACT, extract_run) + airflow.task_instances(TRANSFORM, transform_run)
    run_wall = (ts(transform_run["end_date"]) - ts(extract_run["start_date"])).total_seconds()
    print(
        f"\nreal scheduler: unpause→published {wall:.1f}s; first extract task start→publish end {run_wall:.1f}s; "
        f"sum of task durations {sum(t['duration'] or 0 for t in tis):.1f}s; "
        + ", ".join(f"{t['task_id']} {t['duration']:.1f}s" for t in tis)
    )


def test_backfilling_a_past_interval_after_the_source_changed_reproduces_exactly_its_tables(airflow):
    # GIVEN the scheduled interval has been extracted, loaded and published at CLOCK_1
    (interval_run,) = [r for r in airflow.runs(EXTRACT) if r["run_type"] == "scheduled"][:1]
    wait_out_the_hour_boundary(airflow)
    pipeline = airflow.pipeline
    raw_before = raw_snapshot(pipeline.working_db)
    landing_before = landing_snapshot(pipeline.data_dir / "landing")
    published_before = pipeline.published_values()
    transform_runs_before = len(airflow.runs(TRANSFORM))
    # AND the source has changed since (later versions of many orders)
    pipeline.sim.set_clock(CLOCK_2)
    # WHEN that interval is backfilled (re-running the completed run) through the REST API
    start = interval_run["logical_date"]
    backfill = airflow.api(
        "POST",
        "/backfills",
        json={
            "dag_id": EXTRACT,
            "from_date": start,
            "to_date": start,
            "reprocess_behavior": "completed",
            "max_active_runs": 1,
        },
    )
    deadline = time.monotonic() + 300
    while True:
        (run,) = [r for r in airflow.runs(EXTRACT) if r["dag_run_id"] == interval_run["dag_run_id"]]
        if run["run_type"] == "backfill" and run["state"] in ("success", "failed"):
            break
        assert time.monotonic() < deadline, f"backfill {backfill.get('id')} did not finish: {run}"
        time.sleep(3)
    assert run["state"] == "success", airflow.task_report(EXTRACT, run)
    # THEN it reused what the interval received instead of asking the source again:
    # the landing zone, the raw tables and the published tables are exactly as before
    assert landing_snapshot(pipeline.data_dir / "landing") == landing_before
    assert raw_snapshot(pipeline.working_db) == raw_before
    assert pipeline.published_values() == published_before
    # AND the load, finding nothing new, emitted no Asset event: no extra publish
    states = {t["task_id"]: t["state"] for t in airflow.task_instances(EXTRACT, run)}
    assert states == {"read_watermarks": "success", "extract": "success", "load": "skipped"}
    time.sleep(5)
    assert len(airflow.runs(TRANSFORM)) == transform_runs_before


def test_a_run_triggered_through_the_api_after_the_source_changed_publishes_the_new_truth(airflow):
    transform_runs = len(airflow.runs(TRANSFORM))
    extract_runs = len(airflow.runs(EXTRACT))
    # WHEN the source changes and a run is triggered through the REST API (the cadence's tick)
    pipeline = airflow.pipeline
    latency = reader_latency(airflow, EXTRACT, lambda: pipeline.sim.set_clock(CLOCK_2), pipeline.published_db)
    airflow.wait_for_runs(EXTRACT, extract_runs + 1)
    airflow.wait_for_runs(TRANSFORM, transform_runs + 1)
    # THEN the new versions are published
    assert_matches_truth(pipeline.published_values(), expected(CLOCK_2))
    # AND what a reader waits for is reported (measured, not asserted: 2 noisy cores): the
    # cadence's wait for the next tick at worst, plus the pipeline's own time from the change
    cadence = SOURCES["kechuang_orders"].cadence.period.total_seconds()
    report = {
        "source": "kechuang_orders",
        "cadence_seconds": cadence,
        "change_to_publish_seconds": latency["seconds"],
        "worst_case_seconds": cadence + latency["seconds"],
        "target_seconds": cadence + LATENCY_MARGIN_SECONDS,
    }
    out = pipeline.data_dir / "reports" / "reader_latency.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"\nreader latency under the real scheduler: {report} ({out})")


def test_stopping_airflow_leaves_no_process_behind(airflow):
    # WHEN the process group is stopped (as the fixture does at the end)
    leftovers = airflow.stop()
    # THEN nothing started for this installation is still running
    assert leftovers == []
    assert airflow.proc.poll() is not None


def wait_out_the_hour_boundary(airflow: Standalone, margin: float = 180) -> None:
    """A new hourly interval starting mid-test would legitimately land the changed source;
    if one is due within `margin` seconds, let it come and finish first."""
    now = datetime.now(UTC)
    next_hour = (now + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    if (next_hour - now).total_seconds() > margin:
        return
    count = len(airflow.runs(EXTRACT))
    time.sleep((next_hour - now).total_seconds() + 5)
    airflow.wait_for_runs(EXTRACT, count + 1)
