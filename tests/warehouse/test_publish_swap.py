"""Publishing: the atomic swap as a reader in another process sees it, the publish log's
contract, history pruning and rollback (API and CLI)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from tests.expectations.test_gate_defects import build_working_db
from warehouse.publish import list_history, publish, rollback

REPO = Path(__file__).resolve().parents[2]

READER = textwrap.dedent(
    """
    import sys, time, duckdb
    path, seconds = sys.argv[1], float(sys.argv[2])
    con = duckdb.connect(path, read_only=True)
    seen, queries, end = set(), 0, time.monotonic() + seconds
    print("ready", flush=True)
    while time.monotonic() < end:
        rows = con.execute("select publish_id, count(*), sum(value) from metrics.plan_metric_values group by 1").fetchall()
        seen.update(r[0] for r in rows)
        queries += 1
    print("queries", queries, "seen", ",".join(sorted(seen)), flush=True)
    """
)


def published_id(path: Path) -> str:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute("select distinct publish_id from metrics.plan_metric_values").fetchone()[0]


@pytest.fixture
def working_db(tmp_path) -> Path:
    return build_working_db(tmp_path / "work.duckdb")


def republish(working_db: Path, publish_id: str, published: Path, keep: int = 5) -> dict:
    """What dbt does on a new run: new values stamped with the new publish_id, then publish."""
    with duckdb.connect(str(working_db)) as conn:
        conn.execute("update metrics.plan_metric_values set publish_id = ?, value = value + 1", [publish_id])
    return publish(working_db, publish_id, 10, 0, "inv-" + publish_id, published_db=published, keep=keep)


def test_a_reader_holding_the_file_keeps_reading_during_a_publish_and_a_new_reader_sees_the_new_version(
    working_db, tmp_path
):
    # GIVEN a published version p1 and a reader process that holds it open and queries in a loop
    published = tmp_path / "published" / "plan_metrics.duckdb"
    republish(working_db, "p1", published)
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(published), "4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert reader.stdout.readline().strip() == "ready"
    # WHEN two publishes swap new files in while it reads
    time.sleep(0.5)
    republish(working_db, "p2", published)
    republish(working_db, "p3", published)
    out, err = reader.communicate(timeout=60)
    # THEN the reader never failed and saw only the consistent version it opened
    assert reader.returncode == 0, err
    assert out.split()[0] == "queries" and int(out.split()[1]) > 10
    assert out.split()[3] == "p1"
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
    rollback(published_db=published)
    assert published_id(published) == "p2" and published.read_bytes() == p2_bytes
    # AND a second rollback goes one further back; --to picks any kept publish
    rollback(published_db=published)
    assert published_id(published) == "p1"
    rollback("p3", published_db=published)
    assert published_id(published) == "p3"
    with pytest.raises(SystemExit, match="not in"):
        rollback("p9", published_db=published)


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
        [sys.executable, "-m", "warehouse.publish", "history"], env=env, cwd=REPO, capture_output=True, text=True
    ).stdout
    assert "p1" in history and "(published now)" in [line for line in history.splitlines() if line.startswith("p1")][0]
