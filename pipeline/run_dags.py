"""`make pipeline`'s runner: each DAG once, in order, through Airflow, in ONE process.

`airflow dags test <dag>` per DAG pays Airflow's start-up and the DAG folder's parse every
time (~7 s each, six times: most of what a first `make run` waited for), and `airflow db
migrate` / `airflow pools set` before them two more. This does what those commands do —
parse the DAG folder (of the settings' repository), bring the metadata database to the
current schema when it is not (at once when it is), ensure the writer pool, then
`dag.test()` each DAG (tasks run in this process, against the metadata database, with the
same retries, pools and callbacks) — in one process, which parses the DAG folder once (not
once more per DAG, as `dag.test()` alone would) and leaves without the interpreter's teardown.

    python -m pipeline.run_dags --log-dir DIR [--conf DAG=JSON ...] DAG [DAG ...]

Prints one line per DAG ("▶ <dag> ok (12.3 s)"); Airflow's own log of the whole run goes to
`DIR/pipeline.log`. Stops at the first DAG that fails, with the lines of the log that say
what failed, and exits 1.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

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


@contextlib.contextmanager
def _parsed_once(bag) -> Iterator[None]:
    """`dag.test()` parses the whole DAG folder again and writes every DAG of it to the
    metadata database before each run (so that a DAG another one triggers is there too): six
    parses and six syncs of eight DAGs for one `make pipeline`. Within this process the folder
    was parsed once already (`bag`) and its files do not change during the run, so the first
    sync of a bundle is done and each later one, for the same bundle version, is skipped; the
    bundle's DAG bag is the one parsed here."""
    from airflow.dag_processing import dagbag as dagbag_module

    real_sync, real_bag, synced = dagbag_module.sync_bag_to_db, dagbag_module.BundleDagBag, set()

    def bundle_bag(*args, dag_folder=None, bundle_path=None, **kwargs):
        if dag_folder is not None and Path(dag_folder) == Path(bag.dag_folder) and not args:
            return bag
        return real_bag(*args, dag_folder=dag_folder, bundle_path=bundle_path, **kwargs)

    def sync_once(dagbag, bundle_name, bundle_version, **kwargs):
        key = (id(dagbag), bundle_name, bundle_version)
        if key not in synced:
            real_sync(dagbag, bundle_name, bundle_version, **kwargs)
            synced.add(key)

    dagbag_module.sync_bag_to_db, dagbag_module.BundleDagBag = sync_once, bundle_bag
    try:
        yield
    finally:
        dagbag_module.sync_bag_to_db, dagbag_module.BundleDagBag = real_sync, real_bag


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
        with _parsed_once(bag):
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


def _leave(code: int) -> NoReturn:
    """Exit without the interpreter's teardown. After a run, the process holds about a million
    objects (Airflow, dbt's manifest, Great Expectations); deallocating them one by one took ~3 s
    at SF1, a tenth of `make pipeline`'s wall, after the last DAG had finished. What must happen
    at exit happens first, in order: the OpenLineage listener's pool of DAG-run events is shut
    down (waiting for every event it holds to be written), every other non-daemon thread is
    joined, every atexit handler runs (logging's flush, the ORM's dispose), stdout and stderr
    are flushed. Then os._exit."""
    try:
        from airflow.providers.openlineage.plugins.listener import get_openlineage_listener

        get_openlineage_listener().before_stopping(component=None)  # executor.shutdown(wait=True)
    except ImportError:  # the provider is not installed: no pool
        pass
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _leave(main())
