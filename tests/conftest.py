"""Shared fixtures: a simulator process over real HTTP, an isolated data folder, and
helpers that run the DAGs through Airflow exactly as `make pipeline` does."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import duckdb
import pytest

# Hypothesis keeps a cache beside the tests unless told where: a temporary folder, never the checkout
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", tempfile.mkdtemp(prefix="plan-metrics-hypothesis-"))
from hypothesis import HealthCheck, settings  # noqa: E402

from simulator.process import SimulatorProcess

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts"

# Code that reads its data folder from the environment and is not given one (a DuckDB
# connection's spill folder, a publish run in a child process) must not fall back on the
# checkout's own data/: the session's default is a temporary folder.
os.environ.setdefault("PLAN_METRICS_DATA_DIR", tempfile.mkdtemp(prefix="plan-metrics-test-data-"))

# Tests write a drop file and extract it at once: the quiet period that waits for an upload
# to finish (default 60 s) is off, except where a test sets it to test it.
QUIET = {"PLAN_METRICS_DROP_QUIET_SECONDS": "0"}
os.environ.update(QUIET)

# Property tests: few examples (CI has two cores), no deadline (a loaded machine is slow, not
# wrong), and no example database in the checkout (.hypothesis/ would be a write outside tmp).
# The suite draws the same examples on every run (derandomize), so that a result does not
# depend on the luck of a seed; `--hypothesis-profile explore` draws fresh ones, many more —
# run it when changing a parser or a reader, and keep what it finds as an @example.
_PROPERTIES = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("plan_metrics", max_examples=60, derandomize=True, **_PROPERTIES)
settings.register_profile("explore", max_examples=2000, **_PROPERTIES)
settings.load_profile("plan_metrics")

# Paths under the checkout that running tests may create: Python's and pytest's own caches.
_CACHES = {"__pycache__", ".pytest_cache", ".ruff_cache", ".venv", ".git"}


def checkout_paths(root: Path = REPO) -> set[str]:
    """Every file and folder under the checkout, caches and the virtualenv aside."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _CACHES]
        rel = Path(dirpath).relative_to(root)
        found.update(str(rel / name) for name in [*dirnames, *filenames])
    return found


@pytest.fixture(scope="session", autouse=True)
def nothing_written_into_the_checkout():
    """Tests write only into their temporary folders: at the end of the session, any path
    that appeared under the checkout (a data/ folder, dbt's target/, a screenshot) fails it."""
    before = checkout_paths()
    yield
    new = sorted(checkout_paths() - before)
    assert not new, f"tests wrote {len(new)} path(s) into the checkout, e.g. {new[:10]}"


@pytest.fixture
def simulator(tmp_path):
    """A small simulated world (S3 at scale 0.1), clock at the end of the plan period."""
    with SimulatorProcess(tmp_path / "sim", seed=7, scale=0.1) as sim:
        yield sim


class Pipeline:
    """An isolated pipeline installation: its own data folder and Airflow metadata."""

    def __init__(self, data_dir: Path, sim: SimulatorProcess):
        self.data_dir = data_dir
        self.sim = sim

    @property
    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PLAN_METRICS"))}
        env.update(self.sim.airflow_connections())
        env["PLAN_METRICS_DATA_DIR"] = str(self.data_dir)
        env["PLAN_METRICS_INCOMING_DIR"] = str(self.data_dir / "incoming")
        env["PLAN_METRICS_AS_OF"] = self.sim.clock  # the data is as of the simulated clock
        env.update(QUIET)
        return env

    def run(self) -> subprocess.CompletedProcess:
        """`make pipeline`: every DAG once through `airflow dags test`."""
        return subprocess.run(
            ["bash", str(SCRIPTS / "pipeline.sh")], env=self.env, cwd=REPO, capture_output=True, text=True, timeout=900
        )

    def prepare(self) -> None:
        """What `make pipeline` does before its first DAG: Airflow's metadata and the writer pool."""
        cmd = (
            f"source {SCRIPTS / 'airflow_env.sh'} && airflow db migrate > /dev/null && "
            "airflow pools set duckdb_writer 1 writer > /dev/null"
        )
        result = subprocess.run(
            ["bash", "-c", cmd], env=self.env, cwd=REPO, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, result.stderr[-3000:]

    def dag_test(self, dag_id: str) -> subprocess.CompletedProcess:
        conf = f'-c \'{{"as_of": "{self.sim.clock}"}}\'' if dag_id == "transform_publish" else ""
        cmd = f"source {SCRIPTS / 'airflow_env.sh'} && airflow dags test {dag_id} {conf}"
        return subprocess.run(["bash", "-c", cmd], env=self.env, cwd=REPO, capture_output=True, text=True, timeout=900)

    def dag_test_killed_at(self, dag_id: str, failpoint: str, timeout: float = 600) -> None:
        """Run a DAG through `airflow dags test` and SIGKILL it (the whole process group) when
        it reaches `failpoint` (extract.landing.failpoint): a worker dying mid-task."""
        marker = self.data_dir / f"failpoint-{failpoint}.reached"
        marker.unlink(missing_ok=True)
        env = {**self.env, "PLAN_METRICS_FAILPOINT": failpoint, "PLAN_METRICS_FAILPOINT_FILE": str(marker)}
        conf = f'-c \'{{"as_of": "{self.sim.clock}"}}\'' if dag_id == "transform_publish" else ""
        cmd = f"source {SCRIPTS / 'airflow_env.sh'} && exec airflow dags test {dag_id} {conf}"
        proc = subprocess.Popen(
            ["bash", "-c", cmd],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        reached = marker.exists()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        assert reached, f"{dag_id} never reached the failpoint {failpoint} (exit {proc.returncode})"

    @property
    def published_db(self) -> Path:
        return self.data_dir / "published" / "plan_metrics.duckdb"

    @property
    def working_db(self) -> Path:
        return self.data_dir / "warehouse" / "plan_metrics_work.duckdb"

    def published_values(self) -> dict:
        with duckdb.connect(str(self.published_db), read_only=True) as conn:
            rows = conn.execute(
                "select metric_id, region_code, strftime(period_month, '%Y-%m-%d'), region_level, value, unit, publish_id "
                "from metrics.plan_metric_values"
            ).fetchall()
        return {(m, r, p): (lvl, v, u, pid) for m, r, p, lvl, v, u, pid in rows}


def assert_matches_truth(published: dict, truth: dict) -> None:
    """Every published row equals the simulator's truth: same keys, same values."""
    missing = sorted(set(truth) - set(published))
    extra = sorted(set(published) - set(truth))
    assert not missing, f"{len(missing)} true rows not published, e.g. {missing[:5]}"
    assert not extra, f"{len(extra)} published rows not in the truth, e.g. {extra[:5]}"
    wrong = []
    for key, (level, expected) in truth.items():
        got_level, got, unit, _ = published[key]
        tolerance = 0.005 if unit == "cny" else 1e-9 * max(1.0, abs(expected))
        if got_level != level or abs(got - expected) > tolerance:
            wrong.append((key, (level, expected), (got_level, got)))
    assert not wrong, f"{len(wrong)} values differ from the truth, e.g. {wrong[:5]}"


class PublishedWorld:
    """A published file built from a small simulated world, with the run that built it.

    The simulator serves every source (S1–S3 over HTTP, the S4/S5 drops into the incoming
    folder) with no fault switched on, so the world's truth is `metric_values` over all five
    sources without faults: `truth` (computed once, shared by the tests that compare with it)."""

    SEED, SCALE, CLOCK = 23, 0.1, "2021-12-31T23:59:59+08:00"

    def __init__(self, data_dir: Path, stages: dict):
        self.data_dir = data_dir
        self.stages = stages
        self._truth: dict | None = None

    @property
    def published_db(self) -> Path:
        return self.data_dir / "published" / "plan_metrics.duckdb"

    @property
    def working_db(self) -> Path:
        return self.data_dir / "warehouse" / "plan_metrics_work.duckdb"

    # the published rows, read as the end-to-end tests read them (only `published_db` is used)
    published_values = Pipeline.published_values

    @property
    def truth(self) -> dict:
        """{(metric_id, region_code, 'YYYY-MM-01'): (region_level, value)}: the simulator's own
        computation for this world (seed, scale, clock; every source, no fault), made once."""
        if self._truth is None:
            from simulator import truth
            from simulator.world import WorldConfig, parse_ts

            self._truth = truth.metric_values(
                WorldConfig(self.SEED, self.SCALE), parse_ts(self.CLOCK), sources=truth.ALL_SOURCES, faults=None
            )
        return self._truth


@pytest.fixture(scope="session")
def published_world(tmp_path_factory) -> PublishedWorld:
    """One publish of a small world (seed 23, scale 0.1, clock at the end of the plan), shared
    by the tests that read the published file (reader tables, dashboard). It runs extract →
    load → dbt → gate → publish through the same functions the DAGs call, each stage in its
    own process, without Airflow (~1 min instead of ~2). Before any test reads it, the file's
    `metrics.plan_metric_values` is checked against the simulator's truth row for row, so the
    tests that show or query it start from a publish known to be right."""
    from bench.run import pipeline_pass
    from simulator.world import parse_ts

    base = tmp_path_factory.mktemp("published-world")
    data_dir, incoming = base / "data", base / "data" / "incoming"
    with SimulatorProcess(
        base / "sim",
        seed=PublishedWorld.SEED,
        scale=PublishedWorld.SCALE,
        clock=PublishedWorld.CLOCK,
        incoming=incoming,
    ) as sim:  # no `faults`: every source serves its generated records as they are
        run = pipeline_pass("world", data_dir, sim.info, incoming, parse_ts(sim.clock), base / "logs")
    failed = run.get("failed_stage")
    assert not failed, f"the test world's {failed} stage failed: {run['stages'][failed].get('error')}"
    gate = run["stages"]["gate"]
    assert gate["passed"], f"the quality gate blocked the test world's publish:\n{gate.get('message')}"
    world = PublishedWorld(data_dir, run["stages"])
    assert world.published_db.exists()
    assert_matches_truth(world.published_values(), world.truth)
    return world
