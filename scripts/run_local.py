"""`make run`: start the simulated sources, point the pipeline at them, run it, show the result.

The simulated world (SIM_SEED, SIM_SCALE; clock SIM_CLOCK) keeps its state in its own folder,
`data/demo/seed<seed>-scale<scale>/` (simulator/demo.py): a later `make run` or `make airflow`
at another scale never mixes its raw versions or drops into this one.

The simulator gets its own process group and is always stopped at the end. Its tokens are
random per start and reach Airflow only through AIRFLOW_CONN_* in this process's environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from simulator import demo  # noqa: E402
from simulator.process import SimulatorProcess  # noqa: E402


def main() -> int:
    seed = int(os.environ.get("SIM_SEED", "42"))
    scale = float(os.environ.get("SIM_SCALE", "1"))
    clock = os.environ.get("SIM_CLOCK", demo.DEFAULT_CLOCK)
    try:
        folders = demo.prepare(demo.World.of(seed, scale), clock)
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
        env = {
            **os.environ,
            **sim.airflow_connections(),
            "PLAN_METRICS_DATA_DIR": str(data_dir),
            "PLAN_METRICS_INCOMING_DIR": str(incoming),
            # the data is as of the simulated clock, not today
            "PLAN_METRICS_AS_OF": clock,
        }
        rc = subprocess.call(["bash", str(REPO / "scripts" / "pipeline.sh")], env=env, cwd=REPO)
    if rc == 0:  # the dashboard reads only the published file: it needs nothing above running
        port = os.environ.get("DASHBOARD_PORT", "8501")
        print(f"\nSee it in a browser (看板, Chinese first): make dashboard   -> http://localhost:{port}/")
    return rc


if __name__ == "__main__":
    sys.exit(main())
