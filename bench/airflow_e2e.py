"""End to end under Airflow: `scripts/pipeline.sh` (every DAG through `airflow dags test`) in a
fresh data folder and a fresh AIRFLOW_HOME, timed as a whole and per DAG; task durations
come from Airflow's own metadata (task_instance in the SQLite airflow.db), so the
difference between the wall time and their sum is what orchestration costs. The DAG
folder's parse time is measured apart, in a process of its own.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from settings import REPO, child_env

_PARSE = """
import json, os, sys, time
t0 = time.perf_counter()
from airflow.dag_processing.dagbag import BundleDagBag
imported = time.perf_counter() - t0
t1 = time.perf_counter()
bag = BundleDagBag(dag_folder=sys.argv[1], bundle_path=sys.argv[1])
parse = time.perf_counter() - t1
print(json.dumps({
    "airflow_import_seconds": round(imported, 3),
    "parse_seconds": round(parse, 3),
    "dags": len(bag.dag_ids),
    "import_errors": len(bag.import_errors),
    "files": {os.path.basename(s.file): round(s.duration.total_seconds(), 3) for s in bag.dagbag_stats},
}))
"""


# The simulator renames every drop file into place complete before a run starts, so the
# benchmark does not wait the quiet period an upload in progress needs (its cost is not the
# pipeline's work); the freshness figures add it back.
QUIET = {"PLAN_METRICS_DROP_QUIET_SECONDS": "0"}


def pipeline_env(data_dir: Path, incoming: Path, connections: dict[str, str]) -> dict[str, str]:
    env = child_env(without=("AIRFLOW", "PLAN_METRICS"))
    env.update(connections)
    env["PLAN_METRICS_DATA_DIR"] = str(data_dir)
    env["PLAN_METRICS_INCOMING_DIR"] = str(incoming)
    env["AIRFLOW_HOME"] = str(data_dir / "airflow")  # fresh metadata DB for every measured run
    env.update(QUIET)
    return env


def dag_parse_time(env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _PARSE, str(REPO / "dags")],
        env={**env, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if out.returncode:
        return {"error": out.stderr[-2000:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def task_durations(airflow_db: Path) -> dict:
    """Per task instance (start, end) from Airflow's metadata; the sum and the covered span."""
    with sqlite3.connect(airflow_db) as conn:
        rows = conn.execute(
            "select dag_id, task_id, state, start_date, end_date from task_instance "
            "where start_date is not null and end_date is not null order by start_date"
        ).fetchall()
    tasks, total = [], 0.0
    for dag_id, task_id, state, start, end in rows:
        seconds = (_ts(end) - _ts(start)) if start and end else 0.0
        total += seconds
        tasks.append({"dag_id": dag_id, "task_id": task_id, "state": state, "seconds": round(seconds, 3)})
    return {"task_instances": len(tasks), "sum_task_seconds": round(total, 3), "tasks": tasks}


def _ts(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(str(text).replace(" ", "T")).timestamp()


def run_pipeline(data_dir: Path, incoming: Path, connections: dict[str, str]) -> dict:
    env = pipeline_env(data_dir, incoming, connections)
    parse = dag_parse_time(env)
    started = time.perf_counter()
    out = subprocess.run(
        ["bash", str(REPO / "scripts" / "pipeline.sh")],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=6 * 3600,
    )
    wall = time.perf_counter() - started
    # pipeline.sh prints "▶ <dag> ok (12.3 s)" per DAG
    dag_walls = {m[1]: float(m[2]) for m in re.finditer(r"▶ (\S+)\s+ok \(([\d.]+) s\)", out.stdout)}
    result: dict = {
        "ok": out.returncode == 0,
        "wall_seconds": round(wall, 3),
        "dag_test_seconds": dag_walls,
        "sum_dag_test_seconds": round(sum(dag_walls.values()), 3),
        "dag_parse": parse,
    }
    if out.returncode:
        result["error"] = (out.stdout + out.stderr)[-3000:]
    airflow_db = data_dir / "airflow" / "airflow.db"
    if airflow_db.exists():
        result.update(task_durations(airflow_db))
        if result.get("sum_task_seconds"):
            result["wall_over_task_sum"] = round(wall / result["sum_task_seconds"], 2)
    return result
