"""A newcomer's first hour (issue 17): the scale-0.2 demo (what `make airflow` serves), then
the scale-1 demo (`make run`), in one checkout, through scripts/run_local.py exactly as `make
run` runs it. The second publish must be the scale-1 world's truth row for row — before each
world kept its own folder it held 2,718 wrong rows of a mix of both — and `make run` must end
with next steps that work. One run of both demos serves every assertion (~6 min here)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from simulator import truth
from simulator.demo import DEFAULT_CLOCK, PIPELINE_STATE
from simulator.world import WorldConfig, parse_ts
from tests.conftest import Pipeline, assert_matches_truth
from tests.pipeline.published_digest import table_digests

pytestmark = [pytest.mark.airflow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
SCALES = ("0.2", "1")  # in this order: the small world first, as a newcomer meets them


def expected(scale: str) -> dict:
    return truth.metric_values(WorldConfig(42, float(scale)), parse_ts(DEFAULT_CLOCK), sources=truth.ALL_SOURCES)


def published(world_dir: Path) -> dict:
    return Pipeline(world_dir, sim=None).published_values()


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    """Both demos, one after the other, in one demo root; their output by scale."""
    root = tmp_path_factory.mktemp("demo-root")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PLAN_METRICS", "SIM_"))}
    env["PLAN_METRICS_DEMO_ROOT"] = str(root)
    runs = {}
    for scale in SCALES:
        runs[scale] = subprocess.run(
            [sys.executable, "scripts/run_local.py"],
            env={**env, "SIM_SCALE": scale},
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=2400,
        )
        assert runs[scale].returncode == 0, f"make run at scale {scale} failed:\n{runs[scale].stdout[-4000:]}"
    return root, runs


def test_the_scale_1_demo_after_the_scale_0_2_demo_publishes_exactly_the_scale_1_truth(demos):
    root, _ = demos
    assert_matches_truth(published(root / "seed42-scale1"), expected("1"))


def test_the_scale_0_2_world_still_holds_its_own_truth(demos):
    root, _ = demos
    assert_matches_truth(published(root / "seed42-scale0.2"), expected("0.2"))


def test_each_world_is_marked_and_latest_points_at_the_one_run_last(demos):
    root, _ = demos
    for scale in SCALES:
        marker = json.loads((root / f"seed42-scale{scale}" / "world.json").read_text())
        assert (marker["seed"], marker["scale"], marker["clock"]) == (42, float(scale), DEFAULT_CLOCK)
        assert marker["incoming"] == str(root / f"seed42-scale{scale}" / "incoming")
    assert os.readlink(root / "latest") == "seed42-scale1"


def next_steps(stdout: str) -> dict[str, str]:
    """The lines after the table and the published file's path, by their label."""
    tail = stdout[stdout.rindex("Published database:") :].splitlines()
    start = next(i for i, line in enumerate(tail) if line.startswith("Next:"))
    lines = tail[start:]
    assert len(lines) == 4, f"make run ends with four lines of next steps, got:\n{lines}"
    return {
        label: line.split(label, 1)[1].strip()
        for label in ("query the file", "watch it in Airflow", "this run's quality report", "the dashboard (看板)")
        for line in lines
        if label in line
    }


def test_make_run_ends_with_next_steps_that_name_paths_that_exist_and_a_query_that_works(demos):
    root, runs = demos
    steps = next_steps(runs["1"].stdout)
    world = root / "seed42-scale1"
    # the query: names this world's published file, and prints last month's orders by prefecture
    query = steps["query the file"]
    assert str(world / "published" / "plan_metrics.duckdb") in query
    result = subprocess.run(["bash", "-c", query], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "orders_placed" in result.stdout and "武汉市" in result.stdout  # Wuhan, a prefecture, by its name
    # the scheduler: the same scale, so `make airflow` reuses this world's folder
    watch = steps["watch it in Airflow"]
    assert watch.startswith("make airflow SIM_SCALE=1 ")
    folder = re.search(r"same world: (\S+)/\)", watch).group(1)
    assert (REPO / folder).resolve() == world.resolve()
    # the quality report: this run's (the newest of this world), a file that exists
    report = Path(steps["this run's quality report"])
    newest = max((world / "quality").glob("*/index.html"), key=lambda p: p.stat().st_mtime)
    assert report == newest and report.is_file()
    assert "Quality gate" in report.read_text(encoding="utf-8")
    assert steps["the dashboard (看板)"].startswith("make dashboard")


# published tables added after the digest was made: a new one must be named here on purpose
NEW_SINCE_ISSUE_14 = {
    "report_returns",
    "unreported_centres",
    "rural_centre_registry",
    "quarantine_reasons",
    "source_names",
    # the facts and dimensions behind the metrics (warehouse.reader_tables.FACT_TABLES)
    "fact_orders",
    "fact_roadshows",
    "fact_roadshow_projects",
    "fact_stop_days",
    "fact_rural_centre_reports",
    "fact_ledger_activities",
    "fact_ledger_targets",
    "dim_stops",
    "dim_service_teams",
    "dim_months",
    # "why is this number X?": how metrics follow from facts, set-aside records, runs
    "metric_facts",
    "set_aside_records",
    "source_runs",
}


def test_the_scale_1_demo_publishes_the_same_bytes_as_the_pipeline_before_issue_14(demos):
    # GIVEN the digest of what the pipeline before the rewrite for cheap runs (the load's checks and
    # hashes in DuckDB, marts by kind, one dbt test per model, memory limits) published on
    # this seed, scale and clock, made once from that commit's `make run`
    before = json.loads((Path(__file__).parent / "published_digest_before_issue_14.json").read_text(encoding="utf-8"))
    assert (before["seed"], str(before["scale"]), before["clock"]) == (42, "1", DEFAULT_CLOCK)
    root, _ = demos
    # WHEN today's pipeline has published the same world
    now = table_digests(root / "seed42-scale1" / "published" / "plan_metrics.duckdb")
    # THEN every table published then holds the same bytes, publish ids and times aside
    # (tables added since — the reporting tables for the senders — are new, and only new)
    assert set(before["tables"]) <= set(now), set(before["tables"]) - set(now)
    assert {t: now[t] for t in before["tables"]} == before["tables"], [
        table for table in before["tables"] if now.get(table) != before["tables"][table]
    ]
    added = set(now) - set(before["tables"])
    assert added <= NEW_SINCE_ISSUE_14, added - NEW_SINCE_ISSUE_14


def test_every_folder_a_demo_run_writes_counts_as_pipeline_state(demos):
    # GIVEN the folder of a world after a real `make run`
    root, _ = demos
    written = {p.name for p in (root / "seed42-scale1").iterdir()} - {"world.json"}
    # THEN each top-level folder is one the world check knows as pipeline state, so a folder
    # holding it without a marker is never taken for an empty one
    assert written <= set(PIPELINE_STATE), written - set(PIPELINE_STATE)
