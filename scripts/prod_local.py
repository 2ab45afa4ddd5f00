"""`make prod-local`: the production deployment as processes on this machine (deploy/local_stack/),
with the source simulator (SIM_SCALE, SIM_CLOCK, SIM_SEED) so the DAGs have sources; prints the
proxy's URLs and the admin login, and stops everything on Ctrl-C."""

from __future__ import annotations

import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from deploy.local_stack.stack import ProdLocal


def main() -> int:
    from settings import Settings
    from simulator.process import SimulatorProcess

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    settings = Settings.from_env()
    kept = settings.variable("PROD_LOCAL_DIR")
    root = Path(kept or tempfile.mkdtemp(prefix="plan-metrics-prod-"))
    seed = int(settings.variable("SIM_SEED", "42"))
    scale = float(settings.variable("SIM_SCALE", "0.2"))
    clock = settings.variable("SIM_CLOCK", "2021-12-31T23:59:59+08:00")
    print(f"Throw-away folder: {root}\nStarting the simulated sources (seed {seed}, scale {scale:g}) …", flush=True)
    try:
        with SimulatorProcess(
            root / "sim", seed=seed, scale=scale, clock=clock, incoming=root / "data" / "incoming"
        ) as sim:
            print("Installing/starting PostgreSQL and Redis, then Airflow (CeleryExecutor) …", flush=True)
            with ProdLocal(root, sim.airflow_connections()) as prod:
                user, password = prod.admin
                print(
                    f"\n  Dashboard    {prod.url}/            (log in with an Airflow account)\n"
                    f"  Airflow UI   {prod.url}/airflow/\n  login        {user}   password {password}\n"
                    f"  TLS          self-signed: {prod.cert} (the browser warns; trust it or accept once)\n"
                    f"  PostgreSQL   127.0.0.1:{prod.postgres.port}   Redis 127.0.0.1:{prod.redis.port}\n"
                    f"  workers      {', '.join(prod.celery_names())}\n  logs         {prod.logs}\n"
                    f"  audit        {prod.audit_log}\n"
                    f"  published    {prod.data_dir / 'published' / 'plan_metrics.duckdb'}\n"
                    f"  start-up     {json.dumps(prod.timings)}\n"
                    "\nThe DAGs start paused (production setting): unpause them in the UI; for the data as of the\n"
                    f'simulated clock trigger transform_publish with {{"as_of": "{clock}"}}. Ctrl-C stops everything.\n',
                    flush=True,
                )
                while all(p.alive() for p in prod.processes.values()):
                    time.sleep(1)
                dead = [n for n, p in prod.processes.items() if not p.alive()]
                print(f"stopped unexpectedly: {dead}; see {prod.logs}", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        print("\nStopping …", flush=True)
        return 0
    finally:
        if not kept:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
