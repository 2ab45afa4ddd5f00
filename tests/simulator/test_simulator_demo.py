"""Each simulated world keeps its own state (simulator/demo.py, issue 17): the folder a world's
name gives, its marker, starting afresh at an earlier clock, refusing an explicit folder that
holds another world, the `latest` link `make dashboard` and `make rollback` follow, and the
demo commands refusing before they start anything."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from simulator import demo
from simulator.process import SimulatorProcess

REPO = Path(__file__).resolve().parents[2]
LATE, EARLY = "2021-12-31T23:59:59+08:00", "2021-06-30T23:59:59+08:00"


def env_for(root: Path, **extra: str) -> dict[str, str]:
    return {"PLAN_METRICS_DEMO_ROOT": str(root), **extra}


def test_a_world_folder_is_named_for_its_seed_and_scale():
    assert demo.World.of(42, 1).name == "seed42-scale1"
    assert demo.World.of(42, 0.2).name == "seed42-scale0.2"
    assert demo.World.of(7, 10.0).name == "seed7-scale10"


def test_faults_add_a_short_suffix_that_depends_only_on_which_faults_are_on():
    # GIVEN the same faults written in another order, with other number formats and a
    # fault set to its default
    a = demo.World.of(42, 1, ["kechuang_orders:rate_limit=0.1,drop=0.05", "plan_ledger:broken=0.2"])
    b = demo.World.of(42, 1, ["plan_ledger:broken=0.20", "kechuang_orders:drop=0.050,rate_limit=0.1,slow=0"])
    # THEN they name one world, with a suffix that stays the same from one release to the next
    assert a.name == b.name == "seed42-scale1-faults-fb9e49cb"
    # AND other faults name another world, and faults that switch nothing on add no suffix
    assert demo.World.of(42, 1, ["plan_ledger:broken=0.3"]).name != a.name
    assert demo.World.of(42, 1, ["kechuang_orders:rate_limit=0"]).name == "seed42-scale1"
    with pytest.raises(ValueError, match="unknown fault"):
        demo.World.of(42, 1, ["kechuang_orders:typo=1"])


def test_two_worlds_get_two_folders_under_the_demo_root_and_latest_follows_the_last_started(tmp_path):
    env = env_for(tmp_path / "demo")
    # WHEN two worlds are prepared one after the other
    small = demo.prepare(demo.World.of(42, 0.2), LATE, env, say=pytest.fail)
    big = demo.prepare(demo.World.of(42, 1), LATE, env, say=pytest.fail)
    # THEN each has its own data folder and drop folder, marked with its world and clock
    assert small.data_dir == (tmp_path / "demo" / "seed42-scale0.2").resolve()
    assert big.data_dir == (tmp_path / "demo" / "seed42-scale1").resolve()
    assert big.incoming == big.data_dir / "incoming" and big.incoming.is_dir()
    marker = json.loads((big.data_dir / "world.json").read_text())
    assert marker == {
        "world": "seed42-scale1",
        "seed": 42,
        "scale": 1.0,
        "faults": [],
        "clock": LATE,
        "incoming": str(big.incoming),
    }
    # AND `latest` names the world started last, relative to the demo root
    assert os.readlink(tmp_path / "demo" / "latest") == "seed42-scale1"
    assert demo.latest_data_dir(env) == big.data_dir
    demo.prepare(demo.World.of(42, 0.2), LATE, env, say=pytest.fail)
    assert demo.latest_data_dir(env) == small.data_dir


def test_an_earlier_clock_starts_the_world_afresh_and_says_so_in_one_line(tmp_path):
    # GIVEN a world whose state has seen the end of 2021
    env = env_for(tmp_path / "demo")
    folders = demo.prepare(demo.World.of(42, 1), LATE, env, say=pytest.fail)
    (folders.data_dir / "landing").mkdir()
    (folders.data_dir / "landing" / "version-from-the-future.json").write_text("{}")
    (folders.incoming / "report-2021-12.xlsx").write_text("x")
    said = []
    # WHEN a demo of the same world starts at mid-2021
    again = demo.prepare(demo.World.of(42, 1), EARLY, env, say=said.append)
    # THEN it says so in one line that names the clocks and the folder it deletes
    assert len(said) == 1 and "\n" not in said[0]
    assert LATE in said[0] and EARLY in said[0] and "cannot go back in time" in said[0]
    assert "afresh" in said[0] and str(folders.data_dir) in said[0]
    # AND the world's state is gone, and the marker holds the new clock
    assert again.data_dir == folders.data_dir
    assert not (folders.data_dir / "landing").exists()
    assert list(folders.incoming.iterdir()) == []
    assert demo.read_marker(folders.data_dir)["clock"] == EARLY


def test_a_later_clock_keeps_the_world_and_moves_its_marker_forward(tmp_path):
    env = env_for(tmp_path / "demo")
    folders = demo.prepare(demo.World.of(42, 1), EARLY, env, say=pytest.fail)
    (folders.data_dir / "landing").mkdir()
    demo.prepare(demo.World.of(42, 1), LATE, env, say=pytest.fail)
    assert (folders.data_dir / "landing").is_dir()
    assert demo.read_marker(folders.data_dir)["clock"] == LATE
    # a demo that ended at an earlier clock (moved back through /_sim/clock) keeps the furthest one
    demo.record_end_clock(folders, lambda: EARLY, say=lambda line: None)
    assert demo.read_marker(folders.data_dir)["clock"] == LATE


def test_unmarked_state_in_the_worlds_own_folder_is_started_afresh(tmp_path):
    env = env_for(tmp_path / "demo")
    own = tmp_path / "demo" / "seed42-scale1"
    (own / "warehouse").mkdir(parents=True)
    said = []
    demo.prepare(demo.World.of(42, 1), LATE, env, say=said.append)
    assert len(said) == 1 and "without a world.json marker" in said[0]
    assert not (own / "warehouse").exists() and demo.read_marker(own)["world"] == "seed42-scale1"


def test_an_explicit_empty_data_dir_gets_the_marker_and_is_used(tmp_path):
    env = env_for(tmp_path / "demo", PLAN_METRICS_DATA_DIR=str(tmp_path / "mine"))
    folders = demo.prepare(demo.World.of(42, 0.2), LATE, env, say=pytest.fail)
    assert folders.data_dir == (tmp_path / "mine").resolve()
    assert demo.read_marker(folders.data_dir)["world"] == "seed42-scale0.2"
    assert demo.latest_data_dir(env) == folders.data_dir


def test_the_clock_the_simulator_ended_at_is_recorded_in_the_marker(tmp_path):
    # GIVEN a world served by a real simulator whose clock a user moved forward
    env = env_for(tmp_path / "demo")
    folders = demo.prepare(demo.World.of(7, 0.1), EARLY, env, say=pytest.fail)
    with SimulatorProcess(folders.data_dir / "sim", seed=7, scale=0.1, clock=EARLY) as sim:
        sim.set_clock("2021-09-30T12:00:00+08:00")
        # WHEN the demo ends (what `make airflow` and `make simulator INCOMING=1` do)
        said = []
        demo.record_end_clock(folders, sim.current_clock, say=said.append)
    # THEN the marker holds the clock the simulator ended at
    assert demo.read_marker(folders.data_dir)["clock"] == "2021-09-30T12:00:00+08:00"
    assert "2021-09-30T12:00:00+08:00" in said[0]


# --- the demo commands refuse a folder of another world before they start anything ----------
SCRIPTS = {
    "make run": ["scripts/run_local.py"],
    "make airflow": ["scripts/airflow_local.py"],
    "make simulator INCOMING=1": ["scripts/simulator_local.py", "--port", "0", "--scale", "0.05"],
}


def run_command(args: list[str], env: dict[str, str], tmp_path: Path) -> tuple[int, str, str]:
    """Run a demo script. PATH holds no `bash`, so a script that wrongly went on would fail
    at its first pipeline or Airflow step instead of running for minutes; one that serves
    until stopped gets SIGTERM (it then stops its simulator)."""
    (tmp_path / "empty-path").mkdir(exist_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PLAN_METRICS", "SIM_"))}
    proc = subprocess.Popen(
        [sys.executable, *args],
        env={**base, "PATH": str(tmp_path / "empty-path"), "SIM_SCALE": "0.05", **env},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def another_world(folder: Path) -> None:
    demo.write_marker(demo.folders_for(demo.World.of(7, 0.1), {"PLAN_METRICS_DATA_DIR": str(folder)}), EARLY)
    (folder / "warehouse").mkdir()


def unmarked_state(folder: Path) -> None:
    for name in ("landing", "warehouse", "published"):
        (folder / name).mkdir(parents=True)


@pytest.mark.parametrize("command", SCRIPTS)
@pytest.mark.parametrize(
    ("given", "names"),
    [
        pytest.param(another_world, "holds the simulated world seed7-scale0.1", id="another-world"),
        pytest.param(unmarked_state, "holds pipeline state (landing, published, warehouse)", id="unmarked-state"),
    ],
)
def test_a_demo_refuses_an_explicit_data_dir_of_another_world_before_starting_anything(tmp_path, command, given, names):
    # GIVEN PLAN_METRICS_DATA_DIR set to a folder that holds another world's state
    folder = tmp_path / "theirs"
    folder.mkdir()
    given(folder)
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    # WHEN a demo command serving the world seed 42 (scale 0.05) starts there
    rc, out, err = run_command(
        SCRIPTS[command], env_for(tmp_path / "demo", PLAN_METRICS_DATA_DIR=str(folder)), tmp_path
    )
    # THEN it refuses, naming both worlds and what to do
    assert rc == 2, out + err
    assert "nothing started" in err and names in err and "seed42-scale0.05" in err
    assert (
        f"Unset PLAN_METRICS_DATA_DIR (each world then gets its own folder under {(tmp_path / 'demo').resolve()}/)"
        in err
    )
    assert f"rm -rf {folder.resolve()}" in err
    # AND it started nothing and wrote nothing: no simulator, no marker, no `latest`
    assert "Starting" not in out
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before
    assert not (tmp_path / "demo").exists()


def test_a_demo_refuses_an_explicit_drop_folder_holding_another_worlds_files(tmp_path):
    # GIVEN the drops of the world seed 7 in a folder, and PLAN_METRICS_INCOMING_DIR set to it
    root = tmp_path / "demo"
    theirs = demo.prepare(demo.World.of(7, 0.1), EARLY, env_for(root), say=pytest.fail)
    (theirs.incoming / "ledger.xlsx").write_text("x")
    (root / "latest").unlink()
    rc, out, err = run_command(
        SCRIPTS["make run"], env_for(root, PLAN_METRICS_INCOMING_DIR=str(theirs.incoming)), tmp_path
    )
    assert rc == 2, out + err
    assert f"PLAN_METRICS_INCOMING_DIR={theirs.incoming} holds 1 file — " in err
    assert "the drops of the simulated world seed7-scale0.1" in err and "seed42-scale0.05" in err
    assert f"rm -rf {theirs.incoming}" in err
    assert not (root / "seed42-scale0.05").exists() and not (root / "latest").exists()


# --- make run's query line works wherever the world's folder is ----------------------------
def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("folder", ["plain", 'it\'s "odd" $HOME `x` !'], ids=["plain", "needs-quoting"])
def test_the_query_line_make_run_prints_works_in_a_shell_for_any_folder_name(tmp_path, folder):
    # GIVEN a published file with the labeled view's columns, in a folder named `folder`
    db = tmp_path / folder / "published" / "plan_metrics.duckdb"
    db.parent.mkdir(parents=True)
    with duckdb.connect(str(db)) as conn:
        conn.execute(
            """begin; create schema metrics;
            create table metrics.plan_metric_values as select * from (values
                ('orders_placed', 'prefecture', '420100', '武汉市', date '2021-12-01', 34.0),
                ('orders_placed', 'prefecture', '420500', '宜昌市', date '2021-11-01', 9.0),
                ('orders_placed', 'county', '420102', '江岸区', date '2021-12-01', 5.0))
                t(metric_id, region_level, region_code, region_name_zh, period_month, value);
            create view metrics.plan_metric_values_labeled as select * from metrics.plan_metric_values; commit"""
        )
    # WHEN the line `make run` prints is run by a shell in the checkout
    line = load_script("run_local").query_command(db)
    result = subprocess.run(["bash", "-c", line], cwd=REPO, capture_output=True, text=True, timeout=60)
    # THEN it prints last month's prefectures (not the county, not the older month)
    assert result.returncode == 0, result.stderr
    assert "武汉市" in result.stdout and "34.0" in result.stdout
    assert "宜昌市" not in result.stdout and "江岸区" not in result.stdout


# --- make dashboard / make rollback follow `latest` ------------------------------------------
PRINT_DATA_DIR = [sys.executable, "-c", "import os; print('DATA_DIR=' + os.environ['PLAN_METRICS_DATA_DIR'])"]


def run_latest(env: dict[str, str]) -> list[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PLAN_METRICS")}
    result = subprocess.run(
        [sys.executable, "scripts/demo_latest.py", *PRINT_DATA_DIR],
        env={**base, "PLAN_METRICS_DATA_DIR": "", **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_dashboard_and_rollback_serve_the_world_started_last_and_say_which_file(tmp_path):
    env = env_for(tmp_path / "demo")
    folders = demo.prepare(demo.World.of(42, 0.2), LATE, env, say=pytest.fail)
    lines = run_latest(env)
    assert lines[0].startswith(f"Published file: {folders.published_db}  (the demo world started last, seed42-scale0.2")
    assert lines[1] == f"DATA_DIR={folders.data_dir}"


def test_dashboard_and_rollback_keep_an_explicit_data_dir_and_default_to_data_without_a_demo(tmp_path):
    mine = tmp_path / "mine"
    demo.prepare(demo.World.of(42, 0.2), LATE, env_for(tmp_path / "demo"), say=pytest.fail)
    lines = run_latest(env_for(tmp_path / "demo", PLAN_METRICS_DATA_DIR=str(mine)))
    assert lines == [
        f"Published file: {mine}/published/plan_metrics.duckdb  (PLAN_METRICS_DATA_DIR)",
        f"DATA_DIR={mine}",
    ]
    lines = run_latest(env_for(tmp_path / "no-demo-yet"))
    assert lines[0].startswith(
        f"Published file: {REPO}/data/published/plan_metrics.duckdb  (PLAN_METRICS_DATA_DIR unset"
    )
