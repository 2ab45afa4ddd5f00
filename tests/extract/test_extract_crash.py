"""A run killed at any point (SIGKILL, a real process kill) and then re-run leaves the raw
tables exactly as an undisturbed run does: no duplicates, no gaps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from simulator.process import SimulatorProcess

REPO = Path(__file__).resolve().parents[2]
CLOCK_1 = "2021-03-31T23:59:59+08:00"
CLOCK_2 = "2021-12-31T23:59:59+08:00"

# One extract-and-load run of S3, as the DAG's tasks do it, in its own process.
RUN = """
import sys, duckdb
from pathlib import Path
from extract.api import extract_endpoint
from extract.http_client import ApiClient
from extract.landing import arm_failpoint
from extract.sources import SOURCES
from settings import Settings
from warehouse.raw_load import load_endpoint, read_watermark
base, token, data, run_key = sys.argv[1:5]
settings = Settings.from_env()
arm_failpoint(settings)
db, landing = Path(data) / "w.duckdb", Path(data) / "landing"
endpoints = SOURCES["kechuang_orders"].endpoints
marks = {ep.name: read_watermark(db, ep, settings) for ep in endpoints}
for ep in endpoints:
    extract_endpoint(ApiClient(base, token), ep, landing, run_key, marks[ep.name], limit=50)
with duckdb.connect(str(db)) as conn:
    for ep in endpoints:
        load_endpoint(conn, ep, landing)
"""


def run(sim, data: Path, run_key: str, failpoint: str | None = None) -> None:
    src = sim.source("kechuang_orders")
    env = dict(os.environ)
    marker = data / "failpoint.reached"
    marker.unlink(missing_ok=True)
    if failpoint:
        env |= {"PLAN_METRICS_FAILPOINT": failpoint, "PLAN_METRICS_FAILPOINT_FILE": str(marker)}
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN, src["base_url"], src["token"], str(data), run_key], env=env, cwd=REPO
    )
    if failpoint is None:
        assert proc.wait(timeout=300) == 0
        return
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, "the run ended before reaching the failpoint"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # mid-run, mid-transaction: nothing gets to clean up
    proc.wait(timeout=30)


def raw_state(data: Path) -> dict:
    with duckdb.connect(str(data / "w.duckdb"), read_only=True) as conn:
        return {
            "orders": conn.execute(
                "select * exclude (_manifest_id, _landed_at, _loaded_at, _seq) from raw.kechuang_orders__orders order by all"
            ).fetchall(),
            "teams": conn.execute(
                "select * exclude (_manifest_id, _landed_at, _loaded_at, _seq) from raw.kechuang_orders__service_teams "
                "order by all"
            ).fetchall(),
            "watermarks": conn.execute(
                "select source, endpoint, watermark from meta.watermarks order by all"
            ).fetchall(),
            "duplicates": conn.execute(
                "select count(*) - count(distinct (order_id, _record_hash)) from raw.kechuang_orders__orders"
            ).fetchone()[0],
        }


@pytest.fixture(scope="module")
def undisturbed(tmp_path_factory):
    base = tmp_path_factory.mktemp("undisturbed")
    with SimulatorProcess(base / "sim", seed=5, scale=0.1, clock=CLOCK_1) as sim:
        run(sim, base, "run1")
        sim.set_clock(CLOCK_2)
        run(sim, base, "run2")
    return raw_state(base)


@pytest.mark.parametrize(
    "failpoint",
    [
        pytest.param("mid_extract", id="killed-while-landing-pages"),
        pytest.param("raw_inserted", id="killed-after-raw-insert-before-bookkeeping"),
        pytest.param("before_commit", id="killed-just-before-commit"),
    ],
)
def test_a_run_killed_mid_way_and_re_run_ends_with_the_same_raw_tables(tmp_path, undisturbed, failpoint):
    with SimulatorProcess(tmp_path / "sim", seed=5, scale=0.1, clock=CLOCK_1) as sim:
        run(sim, tmp_path, "run1")
        sim.set_clock(CLOCK_2)
        # GIVEN the second run is killed at the failpoint WHEN it is simply run again
        run(sim, tmp_path, "run2", failpoint=failpoint)
        run(sim, tmp_path, "run2")
    # THEN the raw layer is exactly the undisturbed one: no duplicates, no gaps
    state = raw_state(tmp_path)
    assert state["duplicates"] == 0
    assert state == undisturbed
    assert not list((tmp_path / "landing").rglob(".tmp-*")), "a half-written landing folder was left behind"
