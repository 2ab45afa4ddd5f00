"""GIVEN a world published by the steps the DAGs call WHEN a run's inputs are fingerprinted THEN
a run with the live publish's inputs skips dbt, the gate and the publish, and anything a
build reads — a raw row loaded, another "as of" day, another publish live — makes it build."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from pipeline import steps
from settings import Settings
from warehouse import run_inputs
from warehouse.publish import current_publish_id
from warehouse.run_context import run_context


@pytest.fixture
def world(published_world, tmp_path):
    """A copy of the shared published world (this module changes it) and its run's context."""
    from extract.beijing_time import parse_ts

    data = tmp_path / "data"
    shutil.copytree(published_world.data_dir, data, ignore=shutil.ignore_patterns("incoming", "landing"))
    settings = Settings.from_env().with_data_dir(data)
    clock = published_world.CLOCK
    return settings, run_context("bench-world", parse_ts(clock), clock)


def test_a_run_with_the_inputs_of_the_live_publish_skips_the_build_the_gate_and_the_publish(world):
    settings, ctx = world
    live = current_publish_id(settings)
    before = settings.published_db.read_bytes()
    # WHEN the transform runs again at the same "as of" with nothing loaded since
    built = steps.build(settings, ctx)
    # THEN it names the live publish and builds nothing
    assert steps.unchanged(built) == live and built["nodes"] == []
    gated = steps.gate(settings, ctx, built)
    published = steps.publish(settings, ctx, built, gated)
    # AND neither the gate nor the publish did anything: the live file is untouched
    assert gated["checks_passed"] == gated["checks_failed"] == 0
    assert published["publish_id"] == live
    assert settings.published_db.read_bytes() == before


def test_a_raw_row_loaded_since_the_publish_changes_the_inputs(world):
    settings, ctx = world
    inputs = run_inputs.fingerprint(settings, ctx)
    assert run_inputs.unchanged_since(settings, inputs) is not None
    # WHEN a load appends one version to a raw table (a new _loaded_at, as every load writes)
    with duckdb.connect(str(settings.working_db)) as conn:
        table = conn.execute(
            "select table_name from duckdb_tables() where schema_name = 'raw' and estimated_size > 0 limit 1"
        ).fetchone()[0]
        conn.execute(f'insert into raw."{table}" select * replace (now() as _loaded_at) from raw."{table}" limit 1')
    # THEN the inputs differ from the live publish's
    changed = run_inputs.fingerprint(settings, ctx)
    assert changed != inputs and run_inputs.unchanged_since(settings, changed) is None


def test_another_as_of_day_changes_the_inputs(world):
    settings, ctx = world
    from datetime import timedelta

    later = run_context("a-day-later", ctx.as_of + timedelta(days=1), ctx.as_of + timedelta(days=1))
    assert run_inputs.unchanged_since(settings, run_inputs.fingerprint(settings, later)) is None
    # while another run on the same day has the same inputs (the run id is not an input)
    same_day = run_context("another-run", ctx.as_of, ctx.as_of)
    assert run_inputs.fingerprint(settings, same_day) == run_inputs.fingerprint(settings, ctx)


def test_without_the_live_file_of_that_publish_the_run_builds(world):
    settings, ctx = world
    inputs = run_inputs.fingerprint(settings, ctx)
    # WHEN the live file holds another publish than the one computed from these inputs
    with duckdb.connect(str(settings.working_db)) as conn:
        conn.execute("update meta.publish_inputs set publish_id = 'p-rolled-back-from'")
    # THEN nothing is skipped
    assert run_inputs.unchanged_since(settings, inputs) is None
    # AND with no published file at all, neither
    settings.published_db.unlink()
    assert run_inputs.unchanged_since(settings, inputs) is None
