"""GIVEN the dags/ folder WHEN Airflow parses it THEN every DAG imports cleanly and is
operable: tags, retries, docs, a failure alert, and warehouse tasks in the writer pool."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from extract.sources import SOURCES as REGISTRY

REPO = Path(__file__).resolve().parents[2]
SOURCES = list(REGISTRY)  # one extract DAG per registry entry
EXPECTED_DAGS = {f"extract_{s}" for s in SOURCES} | {"transform_publish"}


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow_home")))
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    from airflow.dag_processing.dagbag import BundleDagBag

    # known_pools makes Airflow reject a task that names a pool the deployment lacks
    return BundleDagBag(
        dag_folder=str(REPO / "dags"), bundle_path=REPO / "dags", known_pools={"default_pool", "duckdb_writer"}
    )


def test_every_dag_file_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}


def test_the_pipeline_dags_are_all_there(dagbag):
    assert EXPECTED_DAGS <= set(dagbag.dag_ids)


def test_every_dag_has_tags_docs_and_retries(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md and "When it fails" in dag.doc_md, f"{dag_id} has no operator docs"
        assert dag.max_active_runs == 1, f"{dag_id}: runs of one DAG must not overlap"
        for t in dag.tasks:
            assert t.retries >= 1, f"{dag_id}.{t.task_id} has no retries"
            assert t.on_failure_callback, f"{dag_id}.{t.task_id} has no failure alert"


def test_tasks_that_open_the_working_database_share_the_single_writer_pool(dagbag):
    writers = {(f"extract_{s}", t) for s in SOURCES for t in ("read_watermarks", "load")} | {
        ("transform_publish", "dbt_build"),
        ("transform_publish", "quality_gate"),
        ("transform_publish", "publish"),
    }
    for dag_id, task_id in writers:
        assert dagbag.dags[dag_id].get_task(task_id).pool == "duckdb_writer"
    # extraction itself never touches the warehouse, so it may run in parallel
    for s in SOURCES:
        assert dagbag.dags[f"extract_{s}"].get_task("extract").pool != "duckdb_writer"


def test_the_pipeline_never_imports_the_simulator():
    offenders = []
    for folder in ("dags", "pipeline", "settings", "extract", "warehouse", "expectations"):
        for path in (REPO / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            if "import simulator" in text or "from simulator" in text:
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []
