"""`make airflow`: the Airflow UI and scheduler on this machine, against the simulated sources.

Starts the simulator (its own process group; drops for S4/S5 into the incoming folder) and
`scripts/airflow_standalone.sh` (api-server, scheduler, dag-processor, triggerer; its own
process group), prints the URL and the login, and stops both on Ctrl-C. The DAGs start
unpaused, so the extract DAGs run their latest interval at once and each raw Asset they
emit triggers transform_publish: watch it in the UI (Dags → Assets, Graph, Gantt).

The world (SIM_SEED, SIM_SCALE) keeps its state in its own folder (simulator/demo.py), the
one `make run` uses for the same seed and scale. The user may move the simulator's clock
(POST /_sim/clock) while it runs: the clock it ended at is recorded in the world's marker,
so a later demo at an earlier clock starts the world afresh instead of mixing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from deploy.local_stack.processes import wait_for_api
from settings import REPO, Settings
from simulator import demo
from simulator.process import SimulatorProcess


def stop_group(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=wait)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def _interrupt(signum, frame):
    # once only: a second Ctrl-C, or the SIGTERM make forwards to its child, must not cut the
    # clean-up short (stopping the processes, recording the clock the world was served at)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def main() -> int:
    # Ctrl-C, and a plain `kill`, both stop Airflow and the simulator (they run in their own
    # process groups, so nothing else would stop them).
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    settings = Settings.from_env()
    port = int(settings.variable("AIRFLOW_PORT", "8080"))
    seed = int(settings.variable("SIM_SEED", "42"))
    scale = float(settings.variable("SIM_SCALE", "0.2"))
    clock = settings.variable("SIM_CLOCK", demo.DEFAULT_CLOCK)
    try:
        folders = demo.prepare(demo.World.of(seed, scale), clock, settings.environment)
    except demo.WorldConflict as exc:
        print(f"make airflow: nothing started.\n{exc}", file=sys.stderr)
        return 2
    data_dir, incoming = folders.data_dir, folders.incoming
    home = Path(settings.variable("AIRFLOW_HOME") or data_dir / "airflow")
    sim = SimulatorProcess(data_dir / "sim", seed=seed, scale=scale, clock=clock, incoming=incoming)
    print(f"Starting the simulated sources (seed {seed}, scale {scale:g}, clock {clock}) …", flush=True)
    print(f"  this world's folder  {data_dir}", flush=True)
    with sim:
        try:
            return _serve(settings, sim, data_dir, incoming, home, port)
        finally:
            demo.record_end_clock(folders, sim.current_clock)


def _serve(settings: Settings, sim: SimulatorProcess, data_dir: Path, incoming: Path, home: Path, port: int) -> int:
    env = settings.child_env(
        {
            **sim.airflow_connections(),
            "PLAN_METRICS_DATA_DIR": str(data_dir),
            "PLAN_METRICS_INCOMING_DIR": str(incoming),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW_PORT": str(port),
        }
    )
    home.mkdir(parents=True, exist_ok=True)
    log = home / "standalone.log"
    print(f"Starting Airflow (standalone, LocalExecutor, metadata {home}/airflow.db) …", flush=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            ["bash", str(REPO / "scripts" / "airflow_standalone.sh")],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://localhost:{port}"
        try:
            wait_for_api(url, 300, proc, interval=2)
        except (RuntimeError, TimeoutError) as e:
            raise SystemExit(f"{e}; see {log}") from None
        password_file = home / "simple_auth_manager_passwords.json.generated"
        password = json.loads(password_file.read_text()).get("admin", "?") if password_file.exists() else "?"
        print(
            f"\n  Airflow UI   {url}\n  login        admin / {password}   (kept in {password_file})\n"
            f"  logs         {log}\n  published    {data_dir / 'published' / 'plan_metrics.duckdb'}\n"
            "\nThe extract DAGs run their latest interval now; transform_publish follows on their Assets."
            '\nMove the simulated clock: curl -X POST <source URL>/_sim/clock -d \'{"clock": "..."}\''
            "\nCtrl-C stops Airflow and the simulator.\n",
            flush=True,
        )
        for name, src in sim.info["sources"].items():
            print(f"  {name:18s} {src['base_url']}")
        while proc.poll() is None:
            time.sleep(1)
        return proc.returncode or 0
    except KeyboardInterrupt:
        print("\nStopping Airflow …", flush=True)
        return 0
    finally:
        stop_group(proc)


if __name__ == "__main__":
    sys.exit(main())
