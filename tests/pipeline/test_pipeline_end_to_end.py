"""The whole pipeline through Airflow (`make pipeline` = `airflow dags test` of every DAG) on a
small seeded world of all five sources, checked row by row against the simulator's
independent truth (every metric, every region level, every month).

The runs build on one another (a second run of an unchanged source, then a later clock), and
each is too slow to repeat per test: one module fixture, `story`, runs the steps in their
order, each at most once and only when a test first asks for it (or for a later one), and
records what each step produced. The tests assert on those records, so each passes alone
(`pytest path::name`) and in any order (`-p randomly`).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from extract.sources import SOURCES
from simulator import truth
from simulator.process import SimulatorProcess
from simulator.world import WorldConfig, parse_ts
from tests.conftest import Pipeline, assert_matches_truth
from tests.pipeline.published_digest import NOT_DATA, table_digests
from warehouse.publish import PUBLISHED_TABLES

pytestmark = [pytest.mark.airflow, pytest.mark.timeout(900)]

SEED, SCALE = 11, 0.1
CLOCK_1 = "2021-06-30T23:59:59+08:00"
CLOCK_2 = "2021-12-31T23:59:59+08:00"
# what a full refresh does, in its own process, as the transform DAG's tasks would: dbt from
# the raw layer with --full-refresh, the quality gate, the publish
FULL_REFRESH = """
import sys
from datetime import UTC, datetime
from pipeline import steps
from settings import Settings
from warehouse.run_context import run_context
settings = Settings.from_env()
ctx = run_context("full-refresh", datetime.now(UTC), sys.argv[1])
built = steps.build(settings, ctx, full_refresh=True)
steps.publish(settings, ctx, built, steps.gate(settings, ctx, built))
"""
# the orders model as dbt compiled it last: only its incremental (merge) path has this CTE
ORDERS_COMPILED = "dbt/target/compiled/plan_metrics/models/staging/kechuang_orders/stg_kechuang_orders__orders.sql"
MERGE_PATH = "touched as ("


def expected(clock: str) -> dict:
    return truth.metric_values(WorldConfig(SEED, SCALE), parse_ts(clock), sources=truth.ALL_SOURCES)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def log_of(result: subprocess.CompletedProcess) -> str:
    return result.stdout[-3000:] + result.stderr[-3000:]


def publish_log(published_db: Path) -> list[tuple]:
    with duckdb.connect(str(published_db), read_only=True) as conn:
        return conn.execute(
            "select publish_id, dbt_invocation_id from metrics.publish_log order by published_at"
        ).fetchall()


def copy_database(src: Path, dst: Path) -> None:
    """A closed DuckDB file (and its WAL, if one was left) copied under another folder."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", ".wal"):
        if Path(f"{src}{suffix}").exists():
            shutil.copyfile(f"{src}{suffix}", f"{dst}{suffix}")


class Story:
    """The pipeline's runs in order, each run once, lazily; `story[step]` is its record."""

    def __init__(self, base: Path, pipeline: Pipeline):
        self.base, self.pipeline = base, pipeline
        self.steps: list[tuple[str, Callable[[], dict]]] = [
            ("first run", self.first_run),
            ("second run", self.second_run),
            ("third run", self.third_run),
            ("full refresh", self.full_refresh),
            ("blocked publish", self.blocked_publish),
        ]
        self.records: dict[str, dict] = {}
        self.failed: str | None = None

    def __getitem__(self, step: str) -> dict:
        names = [name for name, _ in self.steps]
        for name, run in self.steps[: names.index(step) + 1]:
            if name in self.records:
                continue
            if self.failed:
                pytest.fail(f"the step {self.failed!r} failed before {name!r} could run (see its test)")
            try:
                self.records[name] = run()
            except BaseException:
                self.failed = name
                raise
        return self.records[step]

    def _run(self) -> dict:
        """`make pipeline` once; what it published. A failed run stops the story."""
        result = self.pipeline.run()
        assert result.returncode == 0, log_of(result)
        return {
            "stdout": result.stdout,
            "values": self.pipeline.published_values(),
            "publish_log": publish_log(self.pipeline.published_db),
            "compiled_orders": (self.pipeline.data_dir / ORDERS_COMPILED).read_text(),
        }

    def first_run(self) -> dict:
        record = self._run()
        # the OpenLineage events the run wrote (the file transport: no OPENLINEAGE_URL here),
        # and the dbt models that ran, from the manifest of the build
        data_dir = self.pipeline.data_dir
        lines = (data_dir / "lineage" / "events.jsonl").read_text(encoding="utf-8").splitlines()
        record["lineage"] = [json.loads(line) for line in lines if line.strip()]
        record["airflow_log"] = (data_dir / "logs" / "pipeline" / "pipeline.log").read_text(encoding="utf-8")
        manifest = json.loads((data_dir / "dbt" / "target" / "manifest.json").read_text(encoding="utf-8"))
        record["dbt_models"] = {
            f"{n['database']}.{n['schema']}.{n['alias']}"
            for n in manifest["nodes"].values()
            if n["resource_type"] == "model" and n["config"]["materialized"] != "ephemeral"
        }
        # the published tables whose dbt model depends on no source, only on seeds (reference data)
        nodes = {**manifest["nodes"], **manifest["sources"]}

        def upstream(uid: str) -> set[str]:
            found, todo = set(), [uid]
            while todo:
                for dep in nodes.get(todo.pop(), {}).get("depends_on", {}).get("nodes", []):
                    if dep not in found:
                        found.add(dep)
                        todo.append(dep)
            return found

        record["seed_only_tables"] = {
            n["alias"]
            for uid, n in manifest["nodes"].items()
            if n["resource_type"] == "model"
            and n["alias"] in PUBLISHED_TABLES
            and not any(d.startswith("source.") for d in upstream(uid))
        }
        record["sim_urls"] = {name: src["base_url"] for name, src in self.pipeline.sim.info["sources"].items()}
        return record

    def second_run(self) -> dict:
        record = self._run()
        # kept for the full refresh: the published file as it was before the third run
        copy_database(self.pipeline.published_db, self.base / "after-second-run" / "plan_metrics.duckdb")
        return record

    def third_run(self) -> dict:
        self.pipeline.sim.set_clock(CLOCK_2)
        record = self._run()
        record["digests"] = table_digests(self.pipeline.published_db)
        with duckdb.connect(str(self.pipeline.published_db), read_only=True) as conn:
            record["tables"] = {
                name
                for (name,) in conn.execute(
                    "select table_name from duckdb_tables() where schema_name = 'metrics'"
                ).fetchall()
            }
        # the full refresh starts from this working database, in a data folder of its own
        copy_database(
            self.pipeline.working_db, self.base / "full-refresh" / "warehouse" / self.pipeline.working_db.name
        )
        return record

    def full_refresh(self) -> dict:
        # GIVEN the working database the third run left and the file the second run published
        data_dir = self.base / "full-refresh"
        published = data_dir / "published" / "plan_metrics.duckdb"
        copy_database(self.base / "after-second-run" / "plan_metrics.duckdb", published)
        env = {**self.pipeline.env, "PLAN_METRICS_DATA_DIR": str(data_dir)}
        result = subprocess.run(
            [sys.executable, "-c", FULL_REFRESH, CLOCK_2], env=env, capture_output=True, text=True, timeout=900
        )
        assert result.returncode == 0, log_of(result)
        with duckdb.connect(str(published), read_only=True) as conn:
            rows = conn.execute(
                "select metric_id, region_code, strftime(period_month, '%Y-%m-%d'), region_level, value, unit, "
                "publish_id from metrics.plan_metric_values"
            ).fetchall()
        return {
            "digests": table_digests(published),
            "values": {(m, r, p): (lvl, v, u, pid) for m, r, p, lvl, v, u, pid in rows},
            "publish_log": publish_log(published),
            "compiled_orders": (data_dir / ORDERS_COMPILED).read_text(),
        }

    def blocked_publish(self) -> dict:
        pipeline = self.pipeline
        before = sha256(pipeline.published_db)
        # a raw order version that makes a published amount negative (dbt's tests pass it:
        # only the Great Expectations gate can stop it)
        with duckdb.connect(str(pipeline.working_db)) as conn:
            conn.execute(
                """insert into raw.kechuang_orders__orders
                   select * replace ('-99999999.00' as tech_transaction_cny, '2021-12-31T23:59:59+08:00' as updated_at,
                                     'planted-defect' as _record_hash, now() as _landed_at)
                   from raw.kechuang_orders__orders where status = 'closed' limit 1"""
            )
        blocked = pipeline.dag_test("transform_publish")
        after_block = sha256(pipeline.published_db)
        with duckdb.connect(str(pipeline.working_db)) as conn:
            failed = conn.execute(
                "select count(*) from meta.quality_checks where not success and severity = 'block'"
            ).fetchone()[0]
            conn.execute("delete from raw.kechuang_orders__orders where _record_hash = 'planted-defect'")
        fixed = pipeline.dag_test("transform_publish")
        return {
            "blocked": blocked,
            "sha_before": before,
            "sha_after_block": after_block,
            "failed_block_checks": failed,
            "fixed": fixed,
            "sha_after_fix": sha256(pipeline.published_db),
            "values_after_fix": pipeline.published_values() if fixed.returncode == 0 else None,
        }


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    base = tmp_path_factory.mktemp("e2e")
    # the drop folder the simulator writes S4/S5 files into is the pipeline's incoming folder
    with SimulatorProcess(
        base / "sim", seed=SEED, scale=SCALE, clock=CLOCK_1, incoming=base / "data" / "incoming"
    ) as sim:
        yield Story(base, Pipeline(base / "data", sim))


def strip(values: dict) -> dict:
    """Published rows without their publish_id."""
    return {key: row[:3] for key, row in values.items()}


def test_first_run_publishes_every_value_equal_to_the_truth(story):
    # GIVEN a world at the first clock WHEN `make pipeline` runs on a new data folder
    first = story["first run"]
    # THEN it says where it published, and every published value is the truth's
    assert "Published database:" in first["stdout"]
    assert_matches_truth(first["values"], expected(CLOCK_1))
    assert len(first["publish_log"]) == 1


def lineage_edges(completes: list[dict]) -> dict[tuple, set[tuple]]:
    """input dataset -> output datasets, from the completed runs, at the finest grain the events
    give: dbt's model events rather than the `dbt_build` task's raw-to-marts summary, and the
    publish's copy of each mart to its published twin rather than every mart to every table."""
    edges: dict[tuple, set[tuple]] = {}
    for event in completes:
        job = event["job"]["name"]
        if job == "transform_publish.dbt_build":
            continue
        for i in event.get("inputs", []):
            for o in event.get("outputs", []):
                if job == "transform_publish.publish" and i["name"].split(".")[-1] != o["name"].split(".")[-1]:
                    continue
                edges.setdefault((i["namespace"], i["name"]), set()).add((o["namespace"], o["name"]))
    return edges


def reachable(edges: dict[tuple, set[tuple]], start: tuple) -> set[tuple]:
    seen, todo = set(), [start]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_the_first_run_leaves_openlineage_events_joining_the_sources_to_the_published_tables(story):
    # GIVEN the first `make pipeline` run, with no lineage backend configured (the file transport)
    first = story["first run"]
    events = first["lineage"]
    completes = [e for e in events if e["eventType"] == "COMPLETE"]
    assert {e["eventType"] for e in events} == {"START", "COMPLETE"}, "nothing failed: no FAIL event"
    # THEN every task of every DAG it ran started and completed, in the pipeline's namespace
    tasks = {f"extract_{s}.{t}" for s in SOURCES for t in ("read_watermarks", "extract", "load")}
    tasks |= {f"transform_publish.{t}" for t in ("dbt_build", "quality_gate", "publish")}
    for state in ("START", "COMPLETE"):
        ran = {e["job"]["name"] for e in events if e["eventType"] == state and e["job"]["namespace"] == "plan_metrics"}
        assert tasks <= ran, f"tasks without a {state} event: {sorted(tasks - ran)}"
    # AND dbt's run is nested in the run of the task that ran it: its parent is the dbt_build
    # task's OpenLineage run, which is every model's root
    task_run = next(e for e in events if e["job"]["name"] == "transform_publish.dbt_build")["run"]["runId"]
    dbt_start = next(e for e in events if e["eventType"] == "START" and e["job"]["name"].startswith("dbt-run-"))
    parent = dbt_start["run"]["facets"]["parent"]
    assert (parent["job"]["name"], parent["run"]["runId"]) == ("transform_publish.dbt_build", task_run)
    models = [  # dbt's run of the model plan_metric_values (not the tasks that also write it)
        e
        for e in completes
        if not e["job"]["name"].startswith("transform_publish.")
        and any(o["name"].endswith(".metrics.plan_metric_values") for o in e.get("outputs", []))
    ]
    assert models and all(
        e["run"]["facets"]["parent"]["run"]["runId"] == dbt_start["run"]["runId"]
        and e["run"]["facets"]["parent"]["root"]["run"]["runId"] == task_run
        for e in models
    ), [e["run"]["facets"].get("parent") for e in models]
    # AND every dbt model the build materialised has a completed run that wrote its table
    written = {o["name"] for e in completes for o in e.get("outputs", [])}
    assert first["dbt_models"] and first["dbt_models"] <= written, sorted(first["dbt_models"] - written)
    # AND the publish wrote every published table
    publish = next(e for e in completes if e["job"]["name"] == "transform_publish.publish")
    published = {o["name"].removeprefix("plan_metrics.metrics.") for o in publish["outputs"]}
    assert published == {*PUBLISHED_TABLES, "publish_log"}
    # AND each API endpoint (at the simulator's address) and drop folder leads, through the
    # landing zone, the raw tables, dbt's models and the marts, to the published metric values
    edges = lineage_edges(completes)
    inputs = {(first["sim_urls"][s.name], ep.path): s.name for s in SOURCES.values() for ep in s.endpoints}
    incoming = story.pipeline.data_dir / "incoming"
    inputs |= {("file", str(incoming / s.name)): s.name for s in SOURCES.values() if s.kind != "http"}
    reached: dict[str, set[str]] = {}
    for dataset, source in inputs.items():
        for namespace, name in reachable(edges, dataset):
            if namespace == f"duckdb://{story.pipeline.published_db}":
                reached.setdefault(name.removeprefix("plan_metrics.metrics."), set()).add(source)
    assert reached.get("plan_metric_values") == set(SOURCES), reached
    # AND a published table no source leads to is reference data: built from dbt's seeds alone
    assert set(PUBLISHED_TABLES) - set(reached) == first["seed_only_tables"]


def test_make_pipeline_parses_the_dag_folder_once_and_leaves_with_every_dag_run_event_written(story):
    # GIVEN the first `make pipeline` run: six DAGs through dag.test() in one process, which
    # leaves without the interpreter's teardown (pipeline/run_dags.py)
    first = story["first run"]
    # THEN the DAG folder was parsed and written to the metadata database once, not per DAG
    assert first["airflow_log"].count("Filling up the DagBag") == 1, "the DAG folder was parsed again"
    assert first["airflow_log"].count("Bulk-writing dags to db") == 1
    # AND every DAG run's COMPLETE event, which the OpenLineage listener writes from its process
    # pool (the runner shuts the pool down before it leaves), is in the lineage file
    dags = {*(f"extract_{s}" for s in SOURCES), "transform_publish"}
    completed = {e["job"]["name"] for e in first["lineage"] if e["eventType"] == "COMPLETE"}
    assert dags <= completed, f"DAG runs without a COMPLETE event: {sorted(dags - completed)}"


def test_a_second_run_with_no_source_changes_keeps_the_live_publish_without_building(story):
    # GIVEN a first publish WHEN the pipeline runs again with no change at the sources
    first, second = story["first run"], story["second run"]
    # THEN the transform finds the inputs the live publish was computed from and stops before
    # dbt (warehouse/run_inputs.py): the same rows, still the truth, under the same publish
    assert strip(second["values"]) == strip(first["values"])
    assert_matches_truth(second["values"], expected(CLOCK_1))
    first_id, second_id = first["publish_log"][-1][0], second["publish_log"][-1][0]
    assert first_id == second_id
    assert {v[3] for v in second["values"].values()} == {first_id}
    # AND the publish log holds the one publish, naming the dbt invocation that built it
    assert [pid for pid, _ in second["publish_log"]] == [first_id]
    assert all(invocation for _, invocation in second["publish_log"])


def test_after_the_source_changes_the_next_run_publishes_the_new_truth_incrementally(story):
    # GIVEN two publishes at the first clock WHEN the sources move on and the pipeline runs
    third = story["third run"]
    # THEN every published value is the truth at the new clock
    assert_matches_truth(third["values"], expected(CLOCK_2))
    assert len(third["publish_log"]) == 2  # the second run had nothing to publish
    # AND dbt built the orders through its incremental (merge) path, not a rebuild
    assert MERGE_PATH in third["compiled_orders"]


def test_a_full_refresh_publishes_every_table_exactly_as_the_incremental_runs_did(story):
    # GIVEN the tables three incremental runs published (two clocks) WHEN dbt rebuilds
    # everything from the raw layer with --full-refresh, the gate passes it and it is
    # published over the file the second run had published
    incremental, rebuilt = story["third run"], story["full refresh"]
    assert MERGE_PATH not in rebuilt["compiled_orders"], "dbt took its incremental path: not a full refresh"
    # THEN every published table — metrics, reader tables, the publish log, the quarantine
    # summary — is the same, row for row (publish ids and times aside: published_digest)
    compared = set(incremental["digests"])
    assert compared == incremental["tables"] - set(NOT_DATA)
    assert compared >= {*PUBLISHED_TABLES, "publish_log", "quarantine_summary"}
    differ = sorted(t for t in compared if rebuilt["digests"].get(t) != incremental["digests"][t])
    assert not differ and set(rebuilt["digests"]) == compared, f"tables that differ: {differ}"
    # AND both are the truth
    assert_matches_truth(rebuilt["values"], expected(CLOCK_2))
    assert len(rebuilt["publish_log"]) == 2


def test_a_failing_expectation_blocks_the_publish_and_leaves_the_published_file_untouched(story):
    # GIVEN a published file, and a raw order version that makes a published amount negative
    # WHEN the transform DAG runs through Airflow
    record = story["blocked publish"]
    # THEN it fails at the gate, names the check, the table and the bad value
    blocked = record["blocked"]
    log = blocked.stdout + blocked.stderr
    assert blocked.returncode != 0
    assert "Quality gate failed" in log
    assert "metrics.plan_metric_values" in log and "expect_column_values_to_be_between" in log
    assert re.search(r"failing values \(sample\): \[[^\n]*-\d", log), "the message shows the negative values"
    # AND the published file is byte for byte what it was
    assert record["sha_after_block"] == record["sha_before"]
    # AND the quality ledger recorded the failure
    assert record["failed_block_checks"] >= 1
    # WHEN the bad version is gone THEN the next run succeeds, finding the very inputs the live
    # publish was computed from: nothing to build, and the published file is still the truth
    assert record["fixed"].returncode == 0, log_of(record["fixed"])
    assert record["sha_after_fix"] == record["sha_before"]
    assert_matches_truth(record["values_after_fix"], expected(CLOCK_2))
