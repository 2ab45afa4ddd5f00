"""How soon a finished upload is in the published file, under the real scheduler.

`airflow standalone` (scheduler, triggerer, LocalExecutor) on a copy of one drop folder with
five of its files held back; the source's extract DAG and transform_publish unpaused, the
first publish (everything but the five) awaited, then each held file is put back into the
folder — an upload finishing — one after the other. Nothing triggers a run by hand: the
drop folder's watcher (pipeline/drop_watch.py) sees the file once it has been quiet for
the quiet period, its Asset schedules the extract DAG, the raw Asset the transform. Per
upload: the seconds from the end of its quiet period to the publish a reader opens
(`upload_to_published_seconds`, the target is 60), and from the upload itself.

The quiet period is shortened for the benchmark (`QUIET_SECONDS`, stated in the report):
it only shifts when the file counts as finished, which is where the clock starts.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import time
from pathlib import Path

QUIET_SECONDS = 10
UPLOADS = 5
SOURCE = "rural_centre_reports"
TARGET_SECONDS = 60


def _hold_back(folder: Path, held: Path, n: int, seed: int = 27) -> list[tuple[Path, Path]]:
    """Move `n` files (chosen by a fixed seed) out of the folder: (where held, where it belongs)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    chosen = random.Random(seed).sample(files, min(n, len(files)))
    held.mkdir(parents=True, exist_ok=True)
    moved = []
    for i, f in enumerate(chosen):
        target = held / f"{i}{f.suffix}"
        os.replace(f, target)
        moved.append((target, f))
    return moved


def measure(work: Path, incoming: Path, sim) -> dict:
    """Five uploads into a copy of the drop folder of `SOURCE`, each timed to its publish
    (the other sources' DAGs run once first, so the transform has the world it needs: S4's
    reports count only for centres another source registered)."""
    from bench.airflow_e2e import pipeline_env
    from bench.standalone import Standalone, publish_ids
    from extract.sources import SOURCES

    copy = work / "incoming"
    shutil.rmtree(work, ignore_errors=True)
    for folder in (p for p in incoming.iterdir() if p.is_dir()):
        shutil.copytree(folder, copy / folder.name)
    uploads = _hold_back(copy / SOURCE, work / "held", UPLOADS)
    env = pipeline_env(work / "data", copy, sim.airflow_connections())
    env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "True"
    env["PLAN_METRICS_DROP_QUIET_SECONDS"] = str(QUIET_SECONDS)
    af = Standalone(work / "airflow", env)
    published = work / "data" / "published" / "plan_metrics.duckdb"
    dag = f"extract_{SOURCE}"
    runs = []
    try:
        af.start()
        dags = [f"extract_{name}" for name in SOURCES]
        af.wait_for_dags([*dags, "transform_publish"])
        for d in [*dags, "transform_publish"]:
            af.api("PATCH", f"/dags/{d}", json={"is_paused": False})
        _settle(af, dags, published, publish_ids)
        for held, home in uploads:
            runs.append(_one_upload(af, held, home, published, publish_ids))
            af.wait_until_idle(dag, "transform_publish")
    except Exception as exc:  # reported as failed, never as a time
        return {"failed": True, "error": str(exc)[-1500:], "uploads": runs}
    finally:
        af.stop()
    after_quiet = [r["after_quiet_seconds"] for r in runs]
    return {
        "source": SOURCE,
        "quiet_seconds": QUIET_SECONDS,
        "uploads": runs,
        "upload_to_published_seconds": {
            "median": round(statistics.median(after_quiet), 1),
            "max": round(max(after_quiet), 1),
            "values": after_quiet,
        },
        "target_seconds": TARGET_SECONDS,
        "how": "event-driven: the drop folder's AssetWatcher (pipeline/drop_watch.py), no run triggered by hand",
    }


def _settle(af, dags: list[str], published: Path, publish_ids, timeout: float = 1800) -> None:
    """Wait until every extract DAG ran once, nothing runs or waits, and a publish is live (a
    transform run that started before the other sources were loaded may have been blocked
    by the gate: the next one publishes)."""
    deadline = time.monotonic() + timeout
    for d in dags:
        while not [r for r in af.runs(d) if r["state"] in ("success", "failed")]:
            assert time.monotonic() < deadline, f"{d} never ran: {af.tail()}"
            time.sleep(2)
    for d in dags:
        af.wait_until_idle(d, "transform_publish", timeout=max(1.0, deadline - time.monotonic()))
    while not publish_ids(published):
        assert time.monotonic() < deadline, f"nothing was published: {af.tail()}"
        time.sleep(2)


def _one_upload(af, held: Path, home: Path, published: Path, publish_ids, timeout: float = 600) -> dict:
    """Put one held file back (an upload finishing now) and wait for the publish that has it."""
    before = set(publish_ids(published))
    os.replace(held, home)
    os.utime(home)  # written now: its mtime and inode change time are the upload's end
    uploaded = os.stat(home).st_ctime  # the quiet period counts from the inode's change
    deadline = time.monotonic() + timeout
    while True:
        new = [p for p in publish_ids(published) if p not in before]
        if new:
            seen = time.time()
            return {
                "upload_seconds": round(seen - uploaded, 1),
                "after_quiet_seconds": round(seen - uploaded - QUIET_SECONDS, 1),
                "publish_id": new[-1],
            }
        if time.monotonic() > deadline:
            raise TimeoutError(f"no new publish {timeout:.0f}s after an upload; see {af.log}")
        time.sleep(0.5)
