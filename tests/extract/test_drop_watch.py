"""GIVEN a drop folder some of whose files a run already received WHEN the watcher looks THEN it
names exactly the files no run received that have been quiet for the quiet period, without
reading them, and its trigger fires once for them (pipeline/drop_watch.py)."""

from __future__ import annotations

import asyncio

from extract.drops import landed_versions, settled_new_files
from tests.extract.test_extract_drops import HEADER, NO_QUIET, write_csv

SOURCE = "rural_centre_reports"
ROW = ["RC-0001", "一小", "420102", "2021-05", 20, 300, 120, 4, "98%", "张三", "13800000000"]


def _received_one(tmp_path):
    from extract.drops import extract_drop_folder

    incoming, landing = tmp_path / "incoming", tmp_path / "landing"
    write_csv(incoming / SOURCE / "a.csv", [HEADER, ROW], "utf-8")
    assert extract_drop_folder(SOURCE, incoming, landing, "run-1", settings=NO_QUIET) is not None
    return incoming, landing


def test_the_watcher_names_only_settled_files_no_run_received(tmp_path):
    # GIVEN a.csv received by a run, then b.csv uploaded
    incoming, landing = _received_one(tmp_path)
    write_csv(incoming / SOURCE / "sub" / "b.csv", [HEADER, ROW], "utf-8")
    seen = landed_versions(landing, SOURCE)
    # WHEN the watcher asks with no quiet period THEN b.csv alone is new
    fresh = settled_new_files(incoming, SOURCE, seen, quiet_seconds=0)
    assert len(fresh) == 1
    # AND an upload still inside its quiet period is not announced yet
    assert settled_new_files(incoming, SOURCE, seen, quiet_seconds=3600) == []
    # AND once announced (added to what was seen) it is not announced again
    assert settled_new_files(incoming, SOURCE, seen | set(fresh), quiet_seconds=0) == []


def test_the_trigger_fires_once_for_an_upload_and_serializes_what_rebuilds_it(tmp_path, monkeypatch):
    from pipeline.drop_watch import DropFolderTrigger

    incoming, landing = _received_one(tmp_path)
    monkeypatch.setenv("PLAN_METRICS_DATA_DIR", str(tmp_path))  # landing/ is under it
    monkeypatch.setenv("PLAN_METRICS_INCOMING_DIR", str(incoming))
    monkeypatch.setenv("PLAN_METRICS_DROP_QUIET_SECONDS", "0")
    trigger = DropFolderTrigger(source=SOURCE, poll_seconds=0.05)
    assert trigger.serialize() == ("pipeline.drop_watch.DropFolderTrigger", {"source": SOURCE, "poll_seconds": 0.05})

    async def first_events() -> list:
        events = trigger.run()
        write_csv(incoming / SOURCE / "b.csv", [HEADER, ROW], "utf-8")
        first = await asyncio.wait_for(anext(events), timeout=30)
        try:  # nothing else is new: no second event
            second = await asyncio.wait_for(anext(events), timeout=0.5)
        except TimeoutError:
            second = None
        await events.aclose()
        return [first, second]

    first, second = asyncio.run(first_events())
    assert first.payload == {"source": SOURCE, "files": 1}
    assert second is None
