"""The DuckDB writer's Celery worker, with dbt and Great Expectations imported before it forks.

    python -m pipeline.writer_worker celery worker --queues duckdb_writer --concurrency 1

is `airflow celery worker ...` (the same arguments, handed to Airflow's own CLI) in a process
that first imports what the writer's tasks need and every task would otherwise import again:
dbt (~1.5 s) for `dbt_build`, Great Expectations (~2.6 s) for `quality_gate`. Every task of
the worker is forked from this process — Celery's prefork pool, then Airflow's supervisor, both
`os.fork` on Linux — so what is imported here is in every task at no cost (copy-on-write; the
worker's resident memory grows by the libraries, ~250 MB, once). Only imports: no connection,
no file and no thread is opened before the fork. `docker-compose.yml`'s `airflow-writer` runs
this; the default-queue workers (extracts) need neither library and stay `airflow celery worker`.

A task logs whether it found its library here (`pipeline.steps.import_for_task`), which is how
the production-shaped test (tests/deployment/test_prod_celery.py) checks that this works.
"""

from __future__ import annotations

import importlib
import sys
import time

# what the writer's tasks import that costs seconds (pipeline/steps.py: build, gate)
PRELOAD = ("dbt.cli.main", "warehouse.transform", "great_expectations", "expectations.gate")


def preload(modules: tuple[str, ...] = PRELOAD) -> dict[str, float]:
    """Import each module; the seconds each took."""
    took = {}
    for name in modules:
        started = time.perf_counter()
        importlib.import_module(name)
        took[name] = round(time.perf_counter() - started, 3)
    return took


def main(argv: list[str] | None = None) -> None:
    took = preload()
    from airflow.__main__ import main as airflow

    print(f"writer worker: imported before forking tasks: {took}", file=sys.stderr, flush=True)
    sys.argv = ["airflow", *(sys.argv[1:] if argv is None else argv)]
    airflow()


if __name__ == "__main__":
    main()
