"""The OpenLineage provider's extractor for the pipeline's `@task`s: what each one read and wrote.

Airflow's provider emits a START and a COMPLETE (or FAIL) event for every task; for a Python
task it knows no datasets. This extractor, registered with `AIRFLOW__OPENLINEAGE__EXTRACTORS`
(scripts/airflow_env.sh, deploy/airflow.env), gives them from `warehouse.lineage.task_datasets`
— the source endpoints or drop folder, the landing zone, the raw tables, the marts, the
published tables — named as dbt's own events name the tables, so a catalog joins the two.
"""

from __future__ import annotations

from airflow.providers.openlineage.extractors.base import BaseExtractor, OperatorLineage


class TaskLineage(BaseExtractor):
    @classmethod
    def get_operator_classnames(cls) -> list[str]:
        return ["_PythonDecoratedOperator"]

    def _execute_extraction(self) -> OperatorLineage | None:
        from extract.sources import SOURCES
        from settings import Settings
        from warehouse.lineage import task_datasets

        dag_id, task_id = self.operator.dag_id, self.operator.task_id
        source = dag_id.removeprefix("extract_")
        base_url = None
        if task_id == "extract" and source in SOURCES and SOURCES[source].kind == "http":
            base_url = _base_url(source)
        inputs, outputs = task_datasets(Settings.from_env(), dag_id, task_id, base_url)
        return OperatorLineage(inputs=inputs, outputs=outputs)


def _base_url(source: str) -> str | None:
    """The source's base URL from its Airflow connection (never its token); None when the
    connection cannot be read here (the event then names the connection instead)."""
    from plan_dag_lib import http_source

    try:
        return http_source(source)[0]
    except Exception:  # lineage must never fail the task it describes
        return None
