"""GIVEN the parsed dags/ folder THEN the scheduling is set on purpose: each extract DAG runs on
its source's cadence with real data intervals (a drop folder's also on its watcher's Asset)
and emits its own raw Asset, transform_publish
runs on any of them, limits and retries are set, and a re-run of an interval lands under
the same key as the original run (what makes backfills reproduce it)."""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pendulum
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "dags"))  # plan_dag_lib, as the DAG files import it

CADENCES = [
    pytest.param("extract_kechuang_orders", "0 * * * *", timedelta(minutes=55), id="orders-hourly"),
    pytest.param("extract_scipop_platform", "0 2 * * *", timedelta(hours=6), id="scipop-api-daily"),
    pytest.param("extract_kechuang_roadshows", "0 2 * * *", timedelta(hours=6), id="roadshows-api-daily"),
    pytest.param("extract_rural_centre_reports", "*/15 * * * *", timedelta(minutes=30), id="rural-drop-folder-15min"),
    pytest.param("extract_plan_ledger", "*/15 * * * *", timedelta(minutes=30), id="ledger-drop-folder-15min"),
]


def cron_id(dag_id: str) -> str:
    return next(p.id for p in CADENCES if p.values[0] == dag_id)


def test_each_drop_folder_dag_runs_on_its_watchers_asset_and_the_watcher_is_the_drop_trigger(dags):
    from plan_dag_lib import DROP_ASSETS

    from extract.sources import file_sources
    from pipeline.drop_watch import DropFolderTrigger

    assert set(DROP_ASSETS) == {s.name for s in file_sources()}
    for source, asset in DROP_ASSETS.items():
        condition = dags[f"extract_{source}"].timetable.asset_condition
        assert condition.uri == asset.uri
        (watcher,) = asset.watchers
        assert isinstance(watcher.trigger, DropFolderTrigger) and watcher.trigger.source == source
        # the triggerer rebuilds it from what it serializes
        classpath, kwargs = watcher.trigger.serialize()
        assert classpath == "pipeline.drop_watch.DropFolderTrigger" and kwargs["source"] == source


@pytest.fixture(scope="module")
def dags(tmp_path_factory):
    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow_home")))
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    from airflow.dag_processing.dagbag import BundleDagBag

    bag = BundleDagBag(dag_folder=str(REPO / "dags"), bundle_path=REPO / "dags")
    assert bag.import_errors == {}
    return bag.dags


@pytest.mark.parametrize("dag_id, cron, dagrun_timeout", CADENCES)
def test_each_extract_dag_runs_on_its_sources_cadence_with_real_data_intervals(dags, dag_id, cron, dagrun_timeout):
    assert dag_id in dags, f"{dag_id} is missing"
    timetable = dags[dag_id].timetable
    if "drop-folder" in cron_id(dag_id):  # the cadence, or the watcher's Asset: an upload that settled
        assert type(timetable).__name__ == "AssetOrTimeSchedule"
        timetable = timetable.timetable
    # a data-interval timetable (not CronTriggerTimetable): each run owns [start, end)
    assert type(timetable).__name__ == "CronDataIntervalTimetable"
    assert (timetable.expression, str(timetable.timezone)) == (cron, "Asia/Shanghai")
    assert dags[dag_id].dagrun_timeout == dagrun_timeout


def test_each_raw_asset_is_emitted_by_exactly_one_extract_load_and_schedules_transform_publish(dags):
    from plan_dag_lib import RAW_ASSETS

    producers = {}
    for dag_id, dag in dags.items():
        for t in dag.tasks:
            for outlet in t.outlets:
                producers.setdefault(outlet.uri, []).append((dag_id, t.task_id))
    for source, asset in RAW_ASSETS.items():
        assert producers.get(asset.uri) == [(f"extract_{source}", "load")], asset.uri
    schedule = dags["transform_publish"].timetable
    assert type(schedule).__name__ == "AssetTriggeredTimetable"
    condition = schedule.asset_condition
    assert type(condition).__name__ == "AssetAny", "one source's change must be enough to publish"
    assert {a.uri for a in condition.objects} == {a.uri for a in RAW_ASSETS.values()}


def test_every_task_has_a_timeout_and_backoff_and_writers_go_to_the_writer_queue(dags):
    from plan_dag_lib import WRITER_POOL, WRITER_QUEUE

    for dag_id, dag in dags.items():
        assert dag.max_active_runs == 1 and not dag.catchup, dag_id
        for t in dag.tasks:
            assert t.execution_timeout is not None and t.execution_timeout <= timedelta(hours=1), t.task_id
            assert t.retry_exponential_backoff, f"{dag_id}.{t.task_id}"
            assert (t.pool == WRITER_POOL) == (t.queue == WRITER_QUEUE), (
                f"{dag_id}.{t.task_id}: pool {t.pool} queue {t.queue}"
            )


def test_extraction_retries_longer_than_warehouse_tasks(dags):
    extract = dags["extract_kechuang_orders"].get_task("extract")
    load = dags["extract_kechuang_orders"].get_task("load")
    assert extract.retries > load.retries
    assert extract.retry_delay > load.retry_delay


@pytest.mark.parametrize(
    "run_id, same_as_scheduled",
    [
        pytest.param("scheduled__2026-03-02T03:00:00+00:00", True, id="scheduled"),
        pytest.param("backfill__2026-03-02T03:00:00+00:00", True, id="backfill-of-the-interval"),
        pytest.param("manual__2026-03-02T03:41:07+00:00", False, id="manual-trigger-lands-apart"),
    ],
)
def test_a_rerun_of_an_interval_lands_under_the_same_key(run_id, same_as_scheduled):
    from plan_dag_lib import run_key

    start = pendulum.datetime(2026, 3, 2, 2, tz="UTC")
    context = {"data_interval_start": start, "data_interval_end": start + timedelta(hours=1)}
    scheduled = run_key({**context, "dag_run": SimpleNamespace(run_id="scheduled__2026-03-02T03:00:00+00:00")})
    key = run_key({**context, "dag_run": SimpleNamespace(run_id=run_id)})
    assert (key == scheduled) is same_as_scheduled
    assert scheduled == "20260302T020000_20260302T030000"
