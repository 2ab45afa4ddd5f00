"""OpenLineage: what each step of the pipeline read and wrote, in a form a data catalog reads.

Two producers send events through one transport: Airflow's OpenLineage provider (one START and
one COMPLETE per task, with the datasets `task_datasets` names: `dags/plan_dag_lib/lineage.py`
is its extractor) and dbt (`emit_dbt_events`: openlineage-dbt's processor over the manifest and
run_results the in-process build just wrote, one job per model, seed and test). Where they go is
a setting (`Settings.openlineage_transport`): files under `$PLAN_METRICS_DATA_DIR/lineage/` by
default, OPENLINEAGE_URL's lineage backend (Marquez, DataHub, OpenMetadata) when set.
`SettingsTransport` is what Airflow's side is configured with (`OPENLINEAGE__TRANSPORT__TYPE`),
so one plain setting and no path serves every machine.

Dataset names follow OpenLineage's naming and dbt's own: a DuckDB table is
`duckdb://<file>` / `<file stem>.<schema>.<table>` (what openlineage-dbt names dbt's sources and
models), an API endpoint `<base URL>` / `<path>`, a folder `file` / `<absolute path>`. That is
what joins the graph up: source endpoint or drop folder → landing zone → raw table → dbt's
models → the working database's marts → the published file's tables.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from openlineage.client.event_v2 import Dataset
from openlineage.client.transport import get_default_factory
from openlineage.client.transport.transport import Config, Transport
from openlineage.common.provider.dbt.local import DbtLocalArtifactProcessor

from extract.sources import SOURCES
from settings import Settings

log = logging.getLogger(__name__)
PRODUCER = "https://github.com/plan-metrics/pipeline"


class SettingsTransportConfig(Config):
    """Nothing to configure: the transport reads the pipeline's settings."""

    @classmethod
    def from_dict(cls, params: dict) -> SettingsTransportConfig:
        return cls()


def _create_event_file(path: Path) -> None:
    """The events file and its folder with the data folder's modes (0750 / 0640,
    warehouse/permissions.py), whichever process emits first: a task works under the
    pipeline's umask, but the scheduler, which emits the DAG runs' events, does not."""
    from warehouse.permissions import DIR_MODE, FILE_MODE

    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE))


class SettingsTransport(Transport):
    """The transport `Settings.openlineage_transport` describes, built where a process first
    emits (a task process, the publish): the file transport into the data folder, or HTTP."""

    kind = "plan_metrics"
    config_class = SettingsTransportConfig

    def __init__(self, config: SettingsTransportConfig | None = None, settings: Settings | None = None) -> None:
        settings = settings or Settings.from_env()
        transport = settings.openlineage_transport()
        if transport["type"] == "file":
            _create_event_file(Path(transport["log_file_path"]))
        self.inner = get_default_factory().create(transport)

    def emit(self, event):
        return self.inner.emit(event)

    def close(self, timeout: float = -1) -> bool:
        return self.inner.close(timeout)


# ---------------------------------------------------------------- the datasets of the pipeline
def table(db: Path, schema: str, name: str) -> Dataset:
    """A DuckDB table as openlineage-dbt names it (namespace the file, name db.schema.table)."""
    return Dataset(namespace=f"duckdb://{db}", name=f"{db.stem}.{schema}.{name}")


def folder(path: Path) -> Dataset:
    return Dataset(namespace="file", name=str(path))


def raw_tables(settings: Settings, source: str) -> list[Dataset]:
    return [table(settings.working_db, *t.split(".", 1)) for t in SOURCES[source].raw_tables]


def published_tables(settings: Settings) -> list[Dataset]:
    from warehouse.publish import PUBLISHED_TABLES

    return [table(settings.published_db, "metrics", t) for t in (*PUBLISHED_TABLES, "publish_log")]


def marts(settings: Settings) -> list[Dataset]:
    """The working database's tables the publish copies (dbt's marts and reader tables)."""
    from warehouse.publish import PUBLISHED_TABLES

    return [table(settings.working_db, "metrics", t) for t in PUBLISHED_TABLES]


def source_inputs(settings: Settings, source: str, base_url: str | None) -> list[Dataset]:
    """What a source's extract reads: each endpoint of its API, or its drop folder."""
    spec = SOURCES[source]
    if spec.kind != "http":
        return [folder(settings.incoming_dir / source)]
    namespace = base_url or f"airflow-connection://{source}"
    return [Dataset(namespace=namespace, name=ep.path) for ep in spec.endpoints]


def task_datasets(
    settings: Settings, dag_id: str, task_id: str, base_url: str | None = None
) -> tuple[list[Dataset], list[Dataset]]:
    """(inputs, outputs) of one task of the pipeline's DAGs; ([], []) for a task that moves no
    data (a notice, a rollback: their events still say they ran)."""
    meta = [table(settings.working_db, "meta", "watermarks")]
    source = dag_id.removeprefix("extract_")
    if dag_id.startswith("extract_") and source in SOURCES:
        landing = [folder(settings.landing_root / source)]
        return {
            "read_watermarks": (meta, []),
            "extract": (source_inputs(settings, source, base_url), landing),
            "load": (landing, [*raw_tables(settings, source), *meta]),
        }.get(task_id, ([], []))
    if dag_id == "transform_publish":
        raw = [t for s in SOURCES for t in raw_tables(settings, s)]
        checks = [table(settings.working_db, "meta", "quality_checks")]
        return {
            "dbt_build": (raw, marts(settings)),
            "quality_gate": (marts(settings), checks),
            "publish": (marts(settings), published_tables(settings)),
        }.get(task_id, ([], []))
    return [], []


# ------------------------------------------------------------------------------ dbt's events
def emit_dbt_events(settings: Settings, succeeded: bool = True, parent: tuple[str, str, str] | None = None) -> int:
    """Send one START and one COMPLETE (or FAIL) per node of the build that just ran, wrapped in
    a run of the job `dbt-run-plan_metrics`, from the build's manifest and run_results; the
    catalog of `dbt docs generate`, when there, adds each model's columns. `parent`, the
    (namespace, job name, run id) of the Airflow task that ran the build, becomes the dbt run's
    parent (so a catalog nests dbt's run inside the task's) and every node's root. Returns how
    many events went out. A failure is logged, never raised: lineage never blocks a build."""
    try:
        return _emit_dbt_events(settings, succeeded, parent)
    except Exception as exc:  # a catalog being down must not stop a publish
        log.warning("dbt's OpenLineage events were not sent: %s", exc)
        return 0


def _emit_dbt_events(settings: Settings, succeeded: bool, parent: tuple[str, str, str] | None) -> int:
    from openlineage.client.client import OpenLineageClient
    from openlineage.common.provider.dbt.facets import ParentRunMetadata
    from openlineage.dbt import dbt_run_event_end, dbt_run_event_failed, dbt_run_event_start

    task = None
    if parent:
        namespace, name, run_id = parent
        task = ParentRunMetadata(run_id=run_id, job_name=name, job_namespace=namespace)
    processor = _Processor(settings)
    start = dbt_run_event_start(
        job_name=processor.job_name, job_namespace=settings.openlineage_namespace, parent_run_metadata=task
    )
    processor.dbt_run_metadata = ParentRunMetadata(
        run_id=start.run.runId,
        job_name=start.job.name,
        job_namespace=start.job.namespace,
        root_parent_run_id=task.run_id if task else None,
        root_parent_job_name=task.job_name if task else None,
        root_parent_job_namespace=task.job_namespace if task else None,
    )
    events = processor.parse().events()
    end = (dbt_run_event_end if succeeded else dbt_run_event_failed)(
        run_id=start.run.runId, job_namespace=start.job.namespace, job_name=start.job.name, parent_run_metadata=task
    )
    client = OpenLineageClient(transport=SettingsTransport(settings=settings))
    for event in [start, *events, end]:
        client.emit(event)
    return len(events) + 2


class _Processor(DbtLocalArtifactProcessor):
    """openlineage-dbt's reader of a local build's artifacts, given the profile's database path
    from the settings: profiles.yml takes it from dbt's `--vars`, which the processor's Jinja
    cannot render."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            project_dir=str(settings.dbt_project_dir),
            target_path=str(settings.dbt_dir / "target"),
            producer=PRODUCER,
            job_namespace=settings.openlineage_namespace,
            skip_errors=True,
            logger=log,
        )
        self.settings = settings

    def get_dbt_metadata(self):
        manifest = self.load_metadata(self.manifest_path, list(range(2, 13)), self.logger)
        run_result = self.load_metadata(self.run_result_path, list(range(2, 7)), self.logger)
        try:
            catalog = self.load_metadata(self.catalog_path, [1], self.logger)
        except FileNotFoundError:
            catalog = None
        self.target = "working"
        profile = {"type": "duckdb", "path": str(self.settings.working_db)}
        return manifest, run_result, profile, catalog
