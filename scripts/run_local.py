"""`make run`: start the simulated sources, point the pipeline at them, run it, show the result.

The simulated world (SIM_SEED, SIM_SCALE; clock SIM_CLOCK) keeps its state in its own folder,
`data/demo/seed<seed>-scale<scale>/` (simulator/demo.py): a later `make run` or `make airflow`
at another scale never mixes its raw versions or drops into this one. The run ends with the
next steps: how to query the published file, how to watch the same world under the
scheduler, where this run's quality report is, and the dashboard.

The simulator gets its own process group and is always stopped at the end. Its tokens are
random per start and reach Airflow only through AIRFLOW_CONN_* in this process's environment.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import unicodedata
from pathlib import Path

from settings import REPO, Settings
from simulator import demo
from simulator.process import SimulatorProcess

# what an analyst asks first, in Chinese first: last month's orders by prefecture, named
QUERY = (
    "select region_name_zh, region_code, period_month, value as orders_placed "
    "from metrics.plan_metric_values_labeled "
    "where metric_id = 'orders_placed' and region_level = 'prefecture' and period_month = "
    "(select max(period_month) from metrics.plan_metric_values where metric_id = 'orders_placed') "
    "order by value desc"
)


def _here(path: Path | str) -> str:
    """A path as short as it is exact for someone in the checkout (where `make` runs)."""
    rel = os.path.relpath(path)
    return rel if not rel.startswith("..") else str(path)


def _width(text: str) -> int:
    """Columns on a terminal: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def newest_quality_report(data_dir: Path) -> Path | None:
    reports = sorted((data_dir / "quality").glob("*/index.html"), key=lambda p: p.stat().st_mtime)
    return reports[-1] if reports else None


def query_command(db: Path) -> str:
    """One shell line that prints QUERY's answer from the published file, read-only."""
    if set(str(db)) & set("\"'$`\\!"):  # a path that needs real quoting gets it, readable or not
        code = f"import duckdb; print(duckdb.connect({json.dumps(str(db))}, read_only=True).sql('''{QUERY}'''))"
        return f"{_here(sys.executable)} -c {shlex.quote(code)}"
    # otherwise double quotes around it, as warehouse/published_summary.py prints its example
    return f"{_here(sys.executable)} -c \"import duckdb; print(duckdb.connect('{db}', read_only=True).sql('''{QUERY}'''))\""


def next_steps(folders: demo.Folders, env: dict) -> list[str]:
    """The four lines `make run` ends with, the next steps a newcomer can take: query, scheduler, quality report, dashboard."""
    query = query_command(folders.published_db)
    watch = ["make", "airflow", f"SIM_SCALE={folders.world.scale:g}"]
    if folders.world.seed != 42:
        watch.append(f"SIM_SEED={folders.world.seed}")
    if env.get("SIM_CLOCK"):
        watch.append(f"SIM_CLOCK={env['SIM_CLOCK']}")
    for var in ("PLAN_METRICS_DATA_DIR", "PLAN_METRICS_INCOMING_DIR"):
        if env.get(var):  # the same explicit folders, or the scheduler would get the world's own
            watch.append(f"{var}={env[var]}")
    report = newest_quality_report(folders.data_dir)
    port = env.get("DASHBOARD_PORT", "8501")
    steps = [
        ("query the file", query),
        (
            "watch it in Airflow",
            f"{shlex.join(watch)}   (UI and scheduler on this same world: {_here(folders.data_dir)}/)",
        ),
        ("this run's quality report", str(report) if report else f"none was written: see {folders.data_dir / 'logs'}"),
        ("the dashboard (看板)", f"make dashboard   -> http://localhost:{port}/   (Chinese first, read-only)"),
    ]
    width = max(_width(label) for label, _ in steps)
    return [
        f"{'Next:' if i == 0 else '':6s}{label}{' ' * (width - _width(label))}  {what}"
        for i, (label, what) in enumerate(steps)
    ]


def main() -> int:
    settings = Settings.from_env()
    seed = int(settings.variable("SIM_SEED", "42"))
    scale = float(settings.variable("SIM_SCALE", "1"))
    clock = settings.variable("SIM_CLOCK", demo.DEFAULT_CLOCK)
    try:
        folders = demo.prepare(demo.World.of(seed, scale), clock, settings.environment)
    except demo.WorldConflict as exc:
        print(f"make run: nothing started.\n{exc}", file=sys.stderr)
        return 2
    data_dir, incoming = folders.data_dir, folders.incoming
    # the simulator also plays the schools and Hubei CAST: it writes the S4/S5 drops
    sim = SimulatorProcess(data_dir / "sim", seed=seed, scale=scale, clock=clock, incoming=incoming)
    print(f"Starting the simulated sources (seed {seed}, scale {scale:g}, clock {clock}) …", flush=True)
    print(f"  this world's folder  {data_dir}", flush=True)
    with sim:
        for name, src in sim.info["sources"].items():
            print(f"  {name:18s} {src['base_url']}")
        env = settings.child_env(
            {
                **sim.airflow_connections(),
                "PLAN_METRICS_DATA_DIR": str(data_dir),
                "PLAN_METRICS_INCOMING_DIR": str(incoming),
                # the data is as of the simulated clock, not today
                "PLAN_METRICS_AS_OF": clock,
                # the simulator renames each drop file into place complete, before the pipeline
                # starts: no upload is still being written, so the demo does not wait a quiet period
                "PLAN_METRICS_DROP_QUIET_SECONDS": settings.variable("PLAN_METRICS_DROP_QUIET_SECONDS", "0"),
            }
        )
        rc = subprocess.call(["bash", str(REPO / "scripts" / "pipeline.sh")], env=env, cwd=REPO)
    if rc == 0:  # the dashboard reads only the published file: it needs nothing above running
        print("\n" + "\n".join(next_steps(folders, settings.environment)), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
