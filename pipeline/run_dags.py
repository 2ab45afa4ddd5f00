"""`make pipeline`'s runner: each DAG once, in order, through Airflow, in ONE process.

`airflow dags test <dag>` per DAG pays Airflow's start-up and the DAG folder's parse every
time (~7 s each, six times: most of what a first `make run` waited for), and `airflow db
migrate` / `airflow pools set` before them two more. This does what those commands do —
parse the DAG folder (of the settings' repository), bring the metadata database to the
current schema when it is not (at once when it is), ensure the writer pool, then
`dag.test()` each DAG (tasks run in this process, against the metadata database, with the
same retries, pools and callbacks) — in one process.

    python -m pipeline.run_dags --log-dir DIR [--conf DAG=JSON ...] DAG [DAG ...]

Prints one line per DAG ("▶ <dag> ok (12.3 s)"); Airflow's own log of the whole run goes to
`DIR/pipeline.log`. Stops at the first DAG that fails, with the lines of the log that say
what failed, and exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import sys
import time
from pathlib import Path

from pipeline import WRITER_POOL
from settings import Settings

FAILURE_LINES = re.compile(
    r"PIPELINE FAILURE|Quality gate failed|  - \[|look at the rows|duckdb -readonly|dbt build failed|Error|error"
)


def _log_to(path: Path) -> None:
    """Send every log record and stray print of the run to one file, as `dags test` did per DAG."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


WRITER_POOL_DESCRIPTION = "DuckDB allows one writing process: every task that opens the working database"


def _prepare_metadata() -> None:
    """`airflow db migrate` when the schema is not current, and the writer pool."""
    import sqlalchemy
    from airflow import settings as airflow_settings
    from airflow.models.pool import Pool
    from airflow.utils import db

    # a new database is made from the models at once (0.3 s); asking a new one whether it is
    # current costs check_migrations' 1 s wait, and upgrading a current one 4 s: ask only when
    # there is a schema to ask about
    if not sqlalchemy.inspect(airflow_settings.engine).has_table("alembic_version"):
        db.upgradedb()
    else:
        try:
            db.check_migrations(timeout=1)
        except TimeoutError:  # an older metadata database
            db.upgradedb()
    Pool.create_or_update_pool(WRITER_POOL, 1, WRITER_POOL_DESCRIPTION, include_deferred=False)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="run_dags", description=__doc__.split("\n")[0])
    p.add_argument("--log-dir", required=True)
    p.add_argument("--conf", action="append", default=[], help="DAG=JSON: the run conf of one DAG")
    p.add_argument("dags", nargs="+")
    args = p.parse_args(argv)
    confs = {k: json.loads(v) for k, v in (c.split("=", 1) for c in args.conf)}
    dags_folder = Settings.from_env().dags_dir
    log_dir = Path(args.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "pipeline.log"
    terminal = sys.stdout
    with log_path.open("a", encoding="utf-8") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        _log_to(log_path)
        from airflow.dag_processing.dagbag import BundleDagBag
        from airflow.utils.state import DagRunState

        # a bundle's DAG bag puts its folder on the path, as Airflow's processor does: the
        # DAG files import plan_dag_lib from there
        bag = BundleDagBag(dag_folder=str(dags_folder), bundle_path=dags_folder)
        if bag.import_errors:
            print(f"the DAG folder does not parse: {bag.import_errors}", file=terminal)
            return 1
        _prepare_metadata()
        for dag_id in args.dags:
            started = time.perf_counter()
            print(f"▶ {dag_id:<28} ", end="", flush=True, file=terminal)
            try:
                run = bag.dags[dag_id].test(run_conf=confs.get(dag_id))
                ok = run is not None and run.state == DagRunState.SUCCESS
            except Exception:
                logging.getLogger(__name__).exception("%s failed", dag_id)
                ok = False
            log.flush()
            if not ok:
                print("FAILED", file=terminal)
                lines = [line.rstrip() for line in log_path.read_text(encoding="utf-8").splitlines()]
                print(f"---- what failed (full log: {log_path}) ----", file=terminal)
                print("\n".join([line for line in lines if FAILURE_LINES.search(line)][-25:]), file=terminal)
                return 1
            print(f"ok ({time.perf_counter() - started:.1f} s)", file=terminal, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
