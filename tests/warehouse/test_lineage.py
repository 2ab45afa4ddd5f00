"""Where OpenLineage events go: the file in the data folder by default, a lineage backend when
OpenLineage's standard variables name one (read through the settings). The events of a real
run, and that they join the sources to the published tables, are checked by
tests/pipeline/test_pipeline_end_to_end.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
from openlineage.client.transport.file import FileTransport
from openlineage.client.transport.http import HttpTransport
from openlineage.client.uuid import generate_new_uuid

from settings import Settings
from warehouse.lineage import SettingsTransport, task_datasets


def event() -> RunEvent:
    return RunEvent(
        eventType=RunState.COMPLETE,
        eventTime=datetime.now(UTC).isoformat(),
        run=Run(runId=str(generate_new_uuid())),
        job=Job(namespace="plan_metrics", name="a_job"),
        producer="tests",
    )


def test_without_a_lineage_url_events_are_appended_as_json_lines_under_the_data_folder(tmp_path):
    # GIVEN no OPENLINEAGE_URL WHEN two events are emitted
    settings = Settings.from_env({"PLAN_METRICS_DATA_DIR": str(tmp_path)})
    transport = SettingsTransport(settings=settings)
    assert isinstance(transport.inner, FileTransport)
    first, second = event(), event()
    transport.emit(first)
    transport.emit(second)
    # THEN both are lines of lineage/events.jsonl, in order
    lines = (tmp_path / "lineage" / "events.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["run"]["runId"] for line in lines] == [first.run.runId, second.run.runId]


def test_openlineage_url_endpoint_and_api_key_send_the_events_to_that_backend(tmp_path):
    # GIVEN OpenLineage's standard variables, as for DataHub
    env = {
        "PLAN_METRICS_DATA_DIR": str(tmp_path),
        "OPENLINEAGE_URL": "http://datahub-gms:8080",
        "OPENLINEAGE_ENDPOINT": "openapi/openlineage/api/v1/lineage",
        "OPENLINEAGE_API_KEY": "a-token",
    }
    # WHEN the transport is built from the settings
    transport = SettingsTransport(settings=Settings.from_env(env))
    # THEN it posts there with the token, and writes no file
    assert isinstance(transport.inner, HttpTransport)
    assert transport.inner.url == "http://datahub-gms:8080"
    assert transport.inner.endpoint == "openapi/openlineage/api/v1/lineage"
    assert transport.inner.config.auth.get_bearer() == "Bearer a-token"
    assert not (tmp_path / "lineage").exists()
    assert "a-token" not in repr(Settings.from_env(env))


def test_an_extract_reads_the_endpoints_and_writes_the_landing_zone_and_its_load_the_raw_tables(tmp_path):
    # GIVEN a source's base URL WHEN its extract DAG's tasks are described
    settings = Settings.from_env({"PLAN_METRICS_DATA_DIR": str(tmp_path)})
    inputs, outputs = task_datasets(settings, "extract_kechuang_orders", "extract", "http://orders:8000")
    loaded_from, loaded = task_datasets(settings, "extract_kechuang_orders", "load")
    # THEN the extract reads each endpoint there and writes the landing folder the load reads
    assert {(d.namespace, d.name) for d in inputs} == {
        ("http://orders:8000", "/v1/orders"),
        ("http://orders:8000", "/v1/service-teams"),
    }
    assert outputs == loaded_from
    # AND the load writes the raw tables, named as openlineage-dbt names dbt's sources
    working = f"duckdb://{settings.working_db}"
    assert {(d.namespace, d.name) for d in loaded} >= {(working, "plan_metrics_work.raw.kechuang_orders__orders")}
