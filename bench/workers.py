"""`make bench-workers`: one extract worker against two, on the production deployment.

Runs docker-compose.yml as processes (deploy/local_stack: PostgreSQL, Redis, CeleryExecutor,
two default-queue workers, the one writer) against the simulator, and times the same
extraction — every extract DAG once, from an empty landing zone and warehouse — with the
default queue served by one worker and by two (Celery's cancel_consumer/add_consumer switch
worker 2 off and on), each at the deployment's concurrency and at one slot per worker (where
slots, not CPU, are the limit). The APIs answer after a delay (the simulator's `slow` fault,
--latency seconds per page), as remote systems do; everything else is as deployed.

    python -m bench.workers [--scale 1] [--latency 0.2] [--rounds 1]

Prints a table and writes data/bench/workers.json. It asserts nothing about time (2 noisy
cores); what each number means is in the README's "Scaling" section.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from deploy.local_stack.rest_api import RestApi
from deploy.local_stack.stack import ProdLocal
from extract.sources import SOURCES, http_sources
from settings import REPO
from simulator.process import SimulatorProcess

# every source of the registry, in its order; the APIs are the ones slowed down
EXTRACTS = tuple(f"extract_{name}" for name in SOURCES)
API_SOURCES = tuple(s.name for s in http_sources())


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def wait_idle(api: RestApi, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while any(r["state"] not in ("success", "failed") for d in EXTRACTS for r in api.runs(d)):
        if time.monotonic() > deadline:
            raise TimeoutError("extract runs still going")
        time.sleep(2)


def one_round(prod: ProdLocal, api: RestApi) -> dict:
    """Every extract DAG once from empty state; the extract tasks' wall time and durations."""
    wait_idle(api)
    for folder in ("landing", "warehouse"):  # nothing runs: a full extraction again
        shutil.rmtree(prod.data_dir / folder, ignore_errors=True)
    started = time.time()
    run_ids = {}
    for dag_id in EXTRACTS:
        run_ids[dag_id] = api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None})["dag_run_id"]
    wait_idle(api)
    tis = {d: api.tis(d, run_ids[d]) for d in EXTRACTS}
    failed = {d: {t: ti["state"] for t, ti in v.items()} for d, v in tis.items() if v["extract"]["state"] != "success"}
    if failed:
        raise RuntimeError(f"extract failed: {failed}")
    extracts = [v["extract"] for v in tis.values()]
    first_start = min(ts(t["start_date"]) for t in extracts)
    last_end = max(ts(t["end_date"]) for t in extracts)
    return {
        "extract_wall_s": round(last_end - first_start, 1),
        "extract_sum_s": round(sum(t["duration"] for t in extracts), 1),
        "runs_wall_s": round(
            max(ts(t["end_date"]) for v in tis.values() for t in v.values() if t["end_date"]) - started, 1
        ),
        "extract_s": {d: round(tis[d]["extract"]["duration"], 1) for d in EXTRACTS},
    }


def set_default_workers(prod: ProdLocal, n: int) -> None:
    from celery import Celery

    control = Celery(broker=prod.broker_url()).control
    worker2 = f"airflow-worker-2@{socket.gethostname()}"
    if n == 1:
        control.cancel_consumer("default", destination=[worker2], reply=True, timeout=10)
    else:
        control.add_consumer("default", destination=[worker2], reply=True, timeout=10)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the APIs wait before each page")
    parser.add_argument("--rounds", type=int, default=1, help="rounds per configuration (median reported)")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="plan-metrics-bench-workers-"))
    faults = [f"{s}:slow=1,slow_seconds={args.latency}" for s in API_SOURCES]
    results = []
    try:
        with SimulatorProcess(
            root / "sim",
            seed=42,
            scale=args.scale,
            incoming=root / "prod" / "data" / "incoming",
            drops_scale=min(args.scale, 1.0),  # spreadsheets render at ~100/s: held at SF1, the APIs scale
            faults=faults,
        ) as sim:
            with ProdLocal(root / "prod", sim.airflow_connections()) as prod:
                api = RestApi(prod.api_url, *prod.admin)
                for dag_id in EXTRACTS:
                    while not api.request("GET", f"/api/v2/dags/{dag_id}").ok:
                        time.sleep(2)
                    api.set_paused(dag_id, False)
                time.sleep(5)
                wait_idle(api)  # the scheduled runs unpausing creates: a warm-up
                concurrency = prod.env.get("AIRFLOW__CELERY__WORKER_CONCURRENCY", "16")
                for slots in (concurrency, "1"):
                    if slots != concurrency:
                        for name in ("airflow-worker-1", "airflow-worker-2"):
                            prod.restart(name, {"AIRFLOW__CELERY__WORKER_CONCURRENCY": slots})
                        while not prod.workers_ready():
                            time.sleep(1)
                    for workers in (1, 2):
                        set_default_workers(prod, workers)
                        rounds = [one_round(prod, api) for _ in range(args.rounds)]
                        best = sorted(rounds, key=lambda r: r["extract_wall_s"])[len(rounds) // 2]
                        results.append({"workers": workers, "slots_per_worker": int(slots), **best})
                        print(json.dumps(results[-1]), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report = {
        "when": datetime.now().isoformat(timespec="seconds"),
        "scale": args.scale,
        "latency_s": args.latency,
        "rounds": args.rounds,
        "results": results,
    }
    out = REPO / "data" / "bench" / "workers.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(
        f"\nSF{args.scale:g} (spreadsheets SF{min(args.scale, 1.0):g}), API latency {args.latency}s/page; "
        f"{len(EXTRACTS)} extract DAGs from empty state"
    )
    print(
        f"{'default workers':>16} {'slots each':>10} {'extract wall s':>15} {'sum of extracts s':>18} {'runs wall s':>12}"
    )
    for r in results:
        print(
            f"{r['workers']:>16} {r['slots_per_worker']:>10} {r['extract_wall_s']:>15} "
            f"{r['extract_sum_s']:>18} {r['runs_wall_s']:>12}"
        )
    for slots in sorted({r["slots_per_worker"] for r in results}, reverse=True):
        one, two = (next(r for r in results if r["slots_per_worker"] == slots and r["workers"] == n) for n in (1, 2))
        print(f"{slots} slot(s) per worker: two workers / one = {two['extract_wall_s'] / one['extract_wall_s']:.2f}")
    print(f"report: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
