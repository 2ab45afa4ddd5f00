"""The pipeline's front door: its steps (`steps.py`: extract a source, load it, build, gate,
publish) as plain functions of the settings and what the run is for, and the runner behind
`make pipeline` (`run_dags.py`: every DAG once, through Airflow, in one process).

The DAG files, the benchmark and the tests call the same steps; nothing here imports
Airflow at module level.
"""

# The single-writer rule of DuckDB, enforced by Airflow: every step that opens the working
# database runs in this pool, which has one slot (created by the runner, and by
# deploy/init.sh in production) ...
WRITER_POOL = "duckdb_writer"
# ... and with the CeleryExecutor those tasks go to this queue, served by the one worker
# that holds the working database file (docker-compose.yml: `airflow-writer`). The pool is
# global (metadata DB); the queue pins the tasks to the machine with the file. Executors
# without queues (LocalExecutor in `make airflow`, `airflow dags test`) ignore it.
WRITER_QUEUE = "duckdb_writer"
