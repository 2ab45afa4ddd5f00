"""`make simulator INCOMING=1`: serve a simulated world in the foreground, with its S4/S5 drops.

Takes the arguments of `python -m simulator serve` (--seed, --scale, --port, --clock,
--faults). The world keeps its state in its own folder (simulator/demo.py): the simulator's
store, and the drops in `<world>/incoming`, rewritten whenever POST /_sim/clock moves the
clock. It prints the sources and the `make pipeline` command that runs the pipeline on this
world from another shell, and on Ctrl-C records the clock the simulator ended at in the
world's marker. (`make simulator` without INCOMING serves the sources only, as
`python -m simulator serve` does.)
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import time

from settings import Settings
from simulator import demo
from simulator.process import SimulatorProcess


def pipeline_command(sim: SimulatorProcess, folders: demo.Folders) -> str:
    """The one line that runs `make pipeline` on this world (the connections carry this start's tokens)."""
    env = {
        "PLAN_METRICS_DATA_DIR": str(folders.data_dir),
        "PLAN_METRICS_INCOMING_DIR": str(folders.incoming),
        # the data is as of the simulated clock, not today (as `make run` does)
        "PLAN_METRICS_AS_OF": sim.clock,
        **sim.airflow_connections(),
    }
    return " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()) + " make pipeline"


def _interrupt(signum, frame):
    # once only: a second Ctrl-C, or the SIGTERM make forwards to its child, must not cut the
    # clean-up short (stopping the processes, recording the clock the world was served at)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/simulator_local.py", description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--port", type=int, default=8700)
    p.add_argument("--clock", default=demo.DEFAULT_CLOCK)
    p.add_argument("--faults", action="append", default=[])
    args = p.parse_args(argv)
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        folders = demo.prepare(
            demo.World.of(args.seed, args.scale, args.faults), args.clock, Settings.from_env().environment
        )
    except demo.WorldConflict as exc:
        print(f"make simulator: nothing started.\n{exc}", file=sys.stderr)
        return 2
    sim = SimulatorProcess(
        folders.data_dir / "sim",
        seed=args.seed,
        scale=args.scale,
        clock=args.clock,
        faults=list(folders.world.faults),
        port=args.port,
        incoming=folders.incoming,
    )
    print(f"Starting the simulated world {folders.world.describe()}, clock {args.clock} …", flush=True)
    with sim:
        try:
            for name, src in sim.info["sources"].items():
                print(f"  {name:18s} {src['base_url']}  token={src['token']}")
            print(
                f"\n  this world's folder  {folders.data_dir}\n  drops (S4/S5)        {folders.incoming}\n"
                f"  simulator log        {sim.log_path}\n"
                "\nRun the pipeline on this world from another shell:\n\n"
                f"{pipeline_command(sim, folders)}\n\n"
                "Ctrl-C stops the simulator.",
                flush=True,
            )
            while sim.proc.poll() is None:
                time.sleep(1)
            print(f"the simulator exited ({sim.proc.returncode}); see {sim.log_path}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 0
        finally:
            demo.record_end_clock(folders, sim.current_clock)


if __name__ == "__main__":
    sys.exit(main())
