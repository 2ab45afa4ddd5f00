"""The drop folders' watcher: an Airflow 3 event trigger that fires when an upload has settled.

`DropFolderTrigger` runs in the triggerer (one asyncio loop for every watcher), is attached
to the Asset `drops/<source>` through an `AssetWatcher`, and that Asset schedules the
source's extract DAG beside its cadence (`AssetOrTimeSchedule`, dags/plan_dag_lib/extract_dag.py):
an upload is taken as soon as it has been quiet for `PLAN_METRICS_DROP_QUIET_SECONDS`
instead of at the next 15-minute tick, which stays as the backstop (a triggerer that was
down, a file the watcher missed).

Every `poll_seconds` it lists the folder (`extract.drops.settled_new_files`: the same
directory-descriptor walk and quiet rule as the extract, nothing opened or read, in a
thread so the triggerer's loop never blocks) against what was landed when it started plus
what it has announced since, and yields one event per poll that found settled new files.
An event the extract then finds nothing in (a file refused, already taken by the cadence's
run) costs one empty extract run: ~1 s of worker time, no transform.

It lives in `pipeline/` (importable by the triggerer from the project's path, unlike the DAG
folder's `plan_dag_lib`) and reads its settings where it runs, as a task does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

POLL_SECONDS = 5.0


class DropFolderTrigger(BaseEventTrigger):
    """Fires when the drop folder of `source` holds a settled file no run has received."""

    def __init__(self, source: str, poll_seconds: float = POLL_SECONDS, **kwargs: Any):
        super().__init__(**kwargs)
        self.source = source
        self.poll_seconds = poll_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", {
            "source": self.source,
            "poll_seconds": self.poll_seconds,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from extract.drops import landed_versions, settled_new_files
        from settings import Settings

        settings = Settings.from_env()  # the triggerer is the edge, as a task is
        seen = await asyncio.to_thread(landed_versions, settings.landing_root, self.source)
        while True:
            fresh = await asyncio.to_thread(
                settled_new_files, settings.incoming_dir, self.source, seen, settings.drop_quiet_seconds
            )
            if fresh:
                seen.update(fresh)
                yield TriggerEvent({"source": self.source, "files": len(fresh)})
            await asyncio.sleep(self.poll_seconds)
