"""Readers never see a half-published state (shared/design/metrics.md): a reader process opens
the published file afresh in a loop, read-only as analysts do, while publishes swap new files
in, and checks that every file it opened is one complete publish — the publish log's last row
names the publish every table carries, and the row counts it records are the tables' own.

The same reader is shown a non-atomic publish (the new file copied over the live one; the
tables replaced in place before the log row is written), paused at its half-way point until
the reader has opened the file: it reports the half-published file, so the check can fail.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from settings import Settings
from tests.expectations.test_gate_defects import build_working_db
from tests.warehouse.child_lines import ChildLines
from warehouse.publish import PUBLISHED_TABLES, publish

# One line of JSON per opening of the published file: when it was opened and closed
# (time.monotonic(), one clock for every process of the machine), the publish its log names
# last, and what does not match that publish (or why the file could not be read).
READER = textwrap.dedent(
    """
    import json, os, sys, time, duckdb
    path, stop, counted = sys.argv[1], sys.argv[2], set(json.loads(sys.argv[3]))

    def inspect(con):
        log = con.execute("select publish_id, row_counts from metrics.publish_log order by published_at").fetchall()
        publish_id, counts = log[-1][0], json.loads(log[-1][1])
        problems = []
        if set(counts) != counted:
            problems.append(f"the log counts {sorted(counts)}, the publish writes {sorted(counted)}")
        tables = {t for (t,) in con.execute("select table_name from duckdb_tables() where schema_name = 'metrics'").fetchall()}
        for table, logged in sorted(counts.items()):
            if table not in tables:
                problems.append(f"{table}: in the log, not in the file")
                continue
            rows = con.execute(f"select count(*) from metrics.{table}").fetchone()[0]
            if rows != logged:
                problems.append(f"{table}: {rows} rows, the log says {logged}")
        stamped = con.execute(
            "select distinct table_name from duckdb_columns() where schema_name = 'metrics' "
            "and column_name = 'publish_id' and table_name <> 'publish_log' order by 1"
        ).fetchall()
        for (table,) in stamped:
            ids = [i for (i,) in con.execute(f"select distinct publish_id from metrics.{table} order by 1").fetchall()]
            if ids and ids != [publish_id]:
                problems.append(f"{table} holds publish {ids}, the log's last publish is {publish_id}")
        return {"publish_id": publish_id, "logged": len(log), "problems": problems}

    n = 0
    while not os.path.exists(stop):
        n += 1
        seen = {"n": n, "opened": time.monotonic()}
        try:
            con = duckdb.connect(path, read_only=True)
            try:
                seen.update(inspect(con))
            finally:
                con.close()
        except Exception as exc:  # a torn file, a lock, a missing table: not a complete publish
            seen["error"] = f"{type(exc).__name__}: {exc}"[:400]
        seen["closed"] = time.monotonic()
        print(json.dumps(seen), flush=True)
        time.sleep(0.002)  # pacing only (leaves the shared cores some air); decides nothing
    """
)


class Reader:
    """The reader process and what it reported, one dict per opening of the file."""

    def __init__(self, published: Path, stop: Path):
        self.stop = stop
        args = [sys.executable, "-c", READER, str(published), str(stop), json.dumps(sorted(PUBLISHED_TABLES))]
        self.child = ChildLines(args, "the reader")
        self.seen: list[dict] = []  # every opening reported so far, in order

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.child.__exit__(*exc)  # kills the reader if the test failed before stopping it

    def _parse(self) -> None:
        self.seen.extend(json.loads(text) for text in self.child.lines[len(self.seen) :])

    def next_opened_after(self, instant: float, timeout: float = 60) -> dict:
        """The first opening that began after `instant` (time.monotonic()), once it is complete."""
        self.child.until(lambda text: json.loads(text)["opened"] > instant, timeout)
        self._parse()
        return self.seen[-1]

    def finish(self) -> list[dict]:
        """Stop the reader; every opening it reported."""
        self.stop.touch()
        self.child.finish(timeout=60)
        assert self.child.proc.returncode == 0, "".join(self.child.stderr)[-3000:]
        self._parse()
        return self.seen


def incomplete(seen: list[dict]) -> list[dict]:
    """The openings that did not find one complete publish."""
    return [s for s in seen if s.get("error") or s.get("problems")]


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch) -> Path:
    """The pipeline's data folder (DuckDB's spill folder lives in it): never the checkout's."""
    monkeypatch.setenv("PLAN_METRICS_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture
def working_db(data_dir) -> Path:
    path = Settings.from_env().working_db  # the data folder's, as a publish finds it
    path.parent.mkdir(parents=True)
    return build_working_db(path)


def next_publish_in_working_db(working_db: Path, publish_id: str) -> None:
    """What dbt does on a new run: every stamped table carries the new publish id, the values
    change, and one row fewer is published each time (so row counts tell publishes apart)."""
    with duckdb.connect(str(working_db)) as conn:
        conn.execute(
            "delete from metrics.plan_metric_values where rowid = (select min(rowid) from metrics.plan_metric_values)"
        )
        conn.execute("update metrics.plan_metric_values set publish_id = ?, value = value + 1", [publish_id])
        conn.execute("update metrics.publish_context set publish_id = ?", [publish_id])


def publish_next(working_db: Path, publish_id: str, published: Path) -> None:
    next_publish_in_working_db(working_db, publish_id)
    publish(Settings.from_env(), publish_id, 10, 0, f"inv-{publish_id}", published_db=published)


def test_a_reader_reopening_the_file_during_publishes_only_ever_opens_a_complete_publish(working_db, tmp_path):
    # GIVEN a published file, and a reader process reopening it in a loop
    published = tmp_path / "published" / "plan_metrics.duckdb"
    publish_next(working_db, "p001", published)
    with Reader(published, tmp_path / "stop") as reader:
        reader.next_opened_after(time.monotonic())
        # WHEN publishes follow one another while it reads — at least six, and until at least
        # three of its openings overlapped a publish (a deadline, never a fixed count of sleeps)
        windows, newest_seen = [], {}
        deadline = time.monotonic() + 180
        while True:
            publish_id = f"p{len(windows) + 2:03d}"
            started = time.monotonic()
            publish_next(working_db, publish_id, published)
            ended = time.monotonic()
            windows.append((started, ended))
            # a reader that opens the file after the publish returned gets that publish
            newest_seen[publish_id] = reader.next_opened_after(ended).get("publish_id")
            overlapping = [s for s in reader.seen if any(s["opened"] < e and s["closed"] > b for b, e in windows)]
            if len(windows) >= 6 and len(overlapping) >= 3:
                break
            assert time.monotonic() < deadline, (
                f"after {len(windows)} publishes only {len(overlapping)} openings overlapped one"
            )
        seen = reader.finish()
    # THEN every file the reader opened was one complete publish: its log matches its tables
    assert not incomplete(seen), f"{len(incomplete(seen))} of {len(seen)} openings: {incomplete(seen)[:3]}"
    # AND each reader that opened the file after a publish returned saw that publish
    assert newest_seen == {p: p for p in newest_seen}
    # AND openings never went back to an older publish, and saw each one
    order = [s["publish_id"] for s in sorted(seen, key=lambda s: s["n"])]
    assert order == sorted(order) and set(order) == {"p001", *newest_seen}
    assert {s["logged"] for s in seen if s["publish_id"] == "p003"} == {3}
    print(f"{len(seen)} openings, {len(overlapping)} during one of {len(windows)} publishes")


def copy_over_the_live_file(working_db: Path, publish_id: str, published: Path, halfway: Callable[[], None]) -> None:
    """A non-atomic publish: the complete new file is built aside, then copied over the live
    file in place (a reader can open it half-copied)."""
    aside = published.parent / "aside" / published.name
    aside.parent.mkdir()
    aside.write_bytes(published.read_bytes())
    publish_next(working_db, publish_id, aside)
    data = aside.read_bytes()
    with published.open("r+b") as live:
        live.truncate(0)
        live.write(data[: len(data) // 2])
        live.flush()
        os.fsync(live.fileno())
        halfway()
        live.write(data[len(data) // 2 :])


def open_for_writing(path: Path, deadline: float) -> duckdb.DuckDBPyConnection:
    """A read-write connection, once no reader holds its shared lock (polled until `deadline`)."""
    while True:
        try:
            return duckdb.connect(str(path))
        except duckdb.IOException:
            assert time.monotonic() < deadline, f"{path} stayed locked by its readers"
            time.sleep(0.01)


def tables_then_log_in_place(working_db: Path, publish_id: str, published: Path, halfway: Callable[[], None]) -> None:
    """A non-atomic publish: the live file's tables are replaced in place, and only then, in a
    second transaction, the publish log gets its row."""
    next_publish_in_working_db(working_db, publish_id)
    deadline = time.monotonic() + 60
    with open_for_writing(published, deadline) as conn:
        conn.execute(f"attach '{working_db}' as work (read_only)")
        for table in PUBLISHED_TABLES:
            conn.execute(f"create or replace table metrics.{table} as select * from work.metrics.{table}")
    halfway()
    with open_for_writing(published, deadline) as conn:
        conn.execute(
            "insert into metrics.publish_log (publish_id, published_at, row_counts) "
            "select ?, now(), json_object('plan_metric_values', (select count(*) from metrics.plan_metric_values))",
            [publish_id],
        )


@pytest.mark.parametrize(
    ("non_atomic", "reported_as"),
    [
        # half a DuckDB file cannot be read
        pytest.param(copy_over_the_live_file, "error", id="copied-over-the-live-file"),
        # a readable file whose tables are p002's while its log's last row is p001's
        pytest.param(tables_then_log_in_place, "problems", id="tables-then-log-in-place"),
    ],
)
def test_the_reader_check_reports_a_file_opened_half_way_through_a_non_atomic_publish(
    working_db, tmp_path, non_atomic, reported_as
):
    # GIVEN a published file and the reader reopening it in a loop
    published = tmp_path / "published" / "plan_metrics.duckdb"
    publish_next(working_db, "p001", published)
    during: list[dict] = []
    with Reader(published, tmp_path / "stop") as reader:

        def halfway() -> None:  # hold the publish until the reader opened the half-published file
            during.append(reader.next_opened_after(time.monotonic()))

        reader.next_opened_after(time.monotonic())
        # WHEN a non-atomic publish runs, paused half-way until the reader has opened the file
        non_atomic(working_db, "p002", published, halfway)
        seen = reader.finish()
    # THEN the opening made half-way is reported as not one complete publish, for its reason
    assert len(during) == 1 and during[0].get(reported_as), during
    assert during[0] in incomplete(seen)
    print(f"half-way, the reader reported: {during[0].get('error') or during[0]['problems']}")
