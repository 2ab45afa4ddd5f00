"""Publishing: the atomic swap as a reader in another process sees it, the publish log's
contract, idempotent retries (also after a crash at the swap), history pruning and rollback
(API and CLI) with the checksums recorded at publish."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from settings import Settings
from tests.expectations.test_gate_defects import build_working_db
from tests.warehouse.child_lines import ChildLines
from warehouse.publish import list_history, publish, rollback

REPO = Path(__file__).resolve().parents[2]

# A reader that opens the file once and queries it in a loop: one line of JSON per query, with
# when it started (time.monotonic(), one clock for every process of the machine) and the
# publish ids it found.
READER = textwrap.dedent(
    """
    import json, os, sys, time, duckdb
    path, stop = sys.argv[1], sys.argv[2]
    con = duckdb.connect(path, read_only=True)
    n = 0
    while True:
        last = os.path.exists(stop)  # one more query after being told to stop
        started = time.monotonic()
        rows = con.execute("select publish_id, count(*), sum(value) from metrics.plan_metric_values group by 1").fetchall()
        n += 1
        print(json.dumps({"n": n, "started": started, "ids": sorted(r[0] for r in rows)}), flush=True)
        if last:
            break
        time.sleep(0.005)  # pacing only (leaves the shared cores some air); decides nothing
    """
)


def published_id(path: Path) -> str:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute("select distinct publish_id from metrics.plan_metric_values").fetchone()[0]


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


def republish(working_db: Path, publish_id: str, published: Path, keep: int = 5) -> dict:
    """What dbt does on a new run: new values stamped with the new publish_id, then publish."""
    with duckdb.connect(str(working_db)) as conn:
        conn.execute("update metrics.plan_metric_values set publish_id = ?, value = value + 1", [publish_id])
    return publish(Settings.from_env(), publish_id, 10, 0, "inv-" + publish_id, published_db=published, keep=keep)


def test_a_reader_holding_the_file_keeps_reading_during_a_publish_and_a_new_reader_sees_the_new_version(
    working_db, tmp_path
):
    # GIVEN a published version p1 and a reader process that holds it open and queries in a loop
    published = tmp_path / "published" / "plan_metrics.duckdb"
    republish(working_db, "p1", published)
    stop = tmp_path / "stop"
    with ChildLines([sys.executable, "-c", READER, str(published), str(stop)], "the reader") as reader:
        reader.next(timeout=60)  # its first query: it holds the file
        # WHEN two publishes swap new files in while it reads, and it queries again after each
        # (the test waits for a query that started after the swap: no sleep decides)
        after_swap = []
        for publish_id in ("p2", "p3"):
            republish(working_db, publish_id, published)
            swapped = time.monotonic()
            line = reader.until(lambda text, t=swapped: json.loads(text)["started"] > t, timeout=60)
            after_swap.append(json.loads(line))
        stop.touch()
        reader.finish(timeout=60)
        # THEN the reader never failed, and every query it made — before, between and after
        # both swaps — saw only the consistent version it opened
        assert reader.proc.returncode == 0, "".join(reader.stderr)[-3000:]
    assert [q["ids"] for q in after_swap] == [["p1"], ["p1"]]
    queries = [json.loads(line) for line in reader.lines]
    assert {tuple(q["ids"]) for q in queries} == {("p1",)}, queries[:5]
    # AND a new reader sees the newest version, whole
    assert published_id(published) == "p3"
    assert not list(published.parent.glob(".*tmp*")) and not Path(f"{published}.wal").exists()


def test_the_publish_log_has_the_contract_columns_and_types_and_accumulates(working_db, tmp_path):
    published = tmp_path / "published" / "plan_metrics.duckdb"
    republish(working_db, "p1", published)
    republish(working_db, "p2", published)
    with duckdb.connect(str(published), read_only=True) as conn:
        columns = conn.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'metrics' and table_name = 'publish_log' order by ordinal_position"
        ).fetchall()
        rows = conn.execute(
            "select publish_id, source_watermarks->>'$.\"kechuang_orders/orders\"', "
            "row_counts->>'$.plan_metric_values', checks_passed, dbt_invocation_id "
            "from metrics.publish_log order by published_at"
        ).fetchall()
        values = conn.execute("select count(*) from metrics.plan_metric_values").fetchone()[0]
    assert columns == [
        ("publish_id", "VARCHAR"),
        ("published_at", "TIMESTAMP WITH TIME ZONE"),
        ("source_watermarks", "JSON"),
        ("row_counts", "JSON"),
        ("checks_passed", "INTEGER"),
        ("checks_failed", "INTEGER"),
        ("dbt_invocation_id", "VARCHAR"),
    ]
    assert rows == [
        ("p1", "2021-03-30T10:00:00+08:00", str(values), 10, "inv-p1"),
        ("p2", "2021-03-30T10:00:00+08:00", str(values), 10, "inv-p2"),
    ]


def test_plan_progress_is_published_with_the_metric_values(working_db, tmp_path):
    published = tmp_path / "published" / "plan_metrics.duckdb"
    with duckdb.connect(str(working_db)) as conn:
        conn.execute(
            "insert into metrics.plan_progress (metric_id, region_code, completion_ratio) values ('orders_placed', '420000', 0.4)"
        )
    republish(working_db, "p1", published)
    with duckdb.connect(str(published), read_only=True) as conn:
        assert conn.execute("select metric_id, completion_ratio from metrics.plan_progress").fetchall() == [
            ("orders_placed", 0.4)
        ]


def test_a_publish_retried_after_its_swap_succeeds_without_a_second_log_row(working_db, tmp_path):
    # GIVEN a publish that went live
    published = tmp_path / "published" / "plan_metrics.duckdb"
    republish(working_db, "p1", published)
    live = published.read_bytes()
    # WHEN the same publish runs again (its task is retried after the swap)
    again = publish(Settings.from_env(), "p1", 10, 0, "inv-p1", published_db=published)
    # THEN it succeeds, changes nothing, and the log holds one row for it, here and in meta
    assert again["already_published"] and published.read_bytes() == live
    with duckdb.connect(str(published), read_only=True) as conn:
        assert conn.execute("select publish_id from metrics.publish_log").fetchall() == [("p1",)]
    with duckdb.connect(str(working_db), read_only=True) as conn:
        assert conn.execute("select count(*) from meta.publish_log where publish_id = 'p1'").fetchone()[0] == 1


@pytest.mark.parametrize(
    ("failpoint", "live_after_crash"),
    [
        pytest.param("before_swap", "p1", id="killed-before-the-swap"),
        pytest.param("after_swap", "p2", id="killed-after-the-swap"),
    ],
)
def test_a_publish_killed_at_its_swap_is_finished_by_its_retry_and_history_holds_only_live_publishes(
    working_db, tmp_path, failpoint, live_after_crash
):
    # GIVEN p1 live, and p2's publish killed (SIGKILL) just before / just after its swap
    published = tmp_path / "published" / "plan_metrics.duckdb"
    republish(working_db, "p1", published)
    with duckdb.connect(str(working_db)) as conn:
        conn.execute("update metrics.plan_metric_values set publish_id = 'p2', value = value + 1")
    marker = tmp_path / "failpoint.reached"
    env = {**os.environ, "PLAN_METRICS_FAILPOINT": failpoint, "PLAN_METRICS_FAILPOINT_FILE": str(marker)}
    code = (
        "import sys; from pathlib import Path; from extract.landing import arm_failpoint; "
        "from settings import Settings; from warehouse.publish import publish; "
        "settings = Settings.from_env(); arm_failpoint(settings); "
        "publish(settings, 'p2', 10, 0, 'inv-p2', published_db=Path(sys.argv[2]))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(working_db), str(published)], env=env, cwd=REPO)
    deadline = time.monotonic() + 120
    while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.kill()
    proc.wait(timeout=60)
    assert marker.exists(), "the publish reached its failpoint"
    # THEN readers see a whole publish, and history holds only what went live
    assert published_id(published) == live_after_crash
    assert [f.name for f in list_history(published)] == ["plan_metrics-p1.duckdb"]
    # WHEN the task is retried THEN p2 is live once, in the log once, and in history with its checksum
    publish(Settings.from_env(), "p2", 10, 0, "inv-p2", published_db=published)
    assert published_id(published) == "p2"
    with duckdb.connect(str(published), read_only=True) as conn:
        assert conn.execute("select publish_id from metrics.publish_log order by published_at").fetchall() == [
            ("p1",),
            ("p2",),
        ]
    assert [f.name for f in list_history(published)] == ["plan_metrics-p1.duckdb", "plan_metrics-p2.duckdb"]
    assert (published.parent / "history" / "plan_metrics-p2.duckdb.sha256").exists()
    assert not list(published.parent.glob(".*tmp*")) and not list((published.parent / "history").glob(".*"))


def test_rollback_refuses_a_history_file_that_no_longer_matches_its_checksum(working_db, tmp_path):
    # GIVEN two publishes, and the kept copy of the first damaged afterwards
    published = tmp_path / "published" / "plan_metrics.duckdb"
    republish(working_db, "p1", published)
    republish(working_db, "p2", published)
    kept = published.parent / "history" / "plan_metrics-p1.duckdb"
    with kept.open("r+b") as fh:
        fh.seek(5000)
        fh.write(b"\x00damaged\x00")
    live = published.read_bytes()
    # WHEN rolled back to it THEN rollback refuses and the live file is untouched
    with pytest.raises(SystemExit, match="checksum"):
        rollback(Settings.from_env(), "p1", published_db=published)
    assert published.read_bytes() == live


def test_history_keeps_the_last_n_publishes(working_db, tmp_path):
    published = tmp_path / "published" / "plan_metrics.duckdb"
    for n in range(1, 5):
        republish(working_db, f"p{n}", published, keep=2)
    assert [f.name for f in list_history(published)] == ["plan_metrics-p3.duckdb", "plan_metrics-p4.duckdb"]


def test_rollback_restores_the_earlier_version_and_walks_back_further(working_db, tmp_path):
    # GIVEN three publishes
    published = tmp_path / "published" / "plan_metrics.duckdb"
    for n in range(1, 4):
        republish(working_db, f"p{n}", published)
    p2_bytes = (published.parent / "history" / "plan_metrics-p2.duckdb").read_bytes()
    # WHEN rolled back, THEN the previous publish serves, byte for byte
    rollback(Settings.from_env(), published_db=published)
    assert published_id(published) == "p2" and published.read_bytes() == p2_bytes
    # AND a second rollback goes one further back; --to picks any kept publish
    rollback(Settings.from_env(), published_db=published)
    assert published_id(published) == "p1"
    rollback(Settings.from_env(), "p3", published_db=published)
    assert published_id(published) == "p3"
    with pytest.raises(SystemExit, match="not in"):
        rollback(Settings.from_env(), "p9", published_db=published)


def test_the_rollback_command_restores_a_chosen_publish(working_db, tmp_path):
    # GIVEN two publishes in the default location of a data folder
    data = tmp_path / "data"
    published = data / "published" / "plan_metrics.duckdb"
    republish(working_db, "p1", published)
    republish(working_db, "p2", published)
    env = {**os.environ, "PLAN_METRICS_DATA_DIR": str(data)}
    # WHEN `python -m warehouse.publish rollback --to p1` runs
    run = subprocess.run(
        [sys.executable, "-m", "warehouse.publish", "rollback", "--to", "p1"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    # THEN p1 is published again and `history` says so
    assert run.returncode == 0, run.stderr
    assert published_id(published) == "p1"
    history = subprocess.run(
        [sys.executable, "-m", "warehouse.publish", "history"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    assert "p1" in history and "(published now)" in [line for line in history.splitlines() if line.startswith("p1")][0]
