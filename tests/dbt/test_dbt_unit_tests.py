"""dbt's unit tests (the `unit_tests:` beside the marts' tricky logic: medians and ratios
recomputed per level, report rates, zero-filled provinces) run here, in the test suite — the
pipeline's builds leave them out, since only a change of the code can break them."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb

from settings import Settings
from tests.dbt.test_dbt_metrics import create_raw_tables, work_db
from warehouse.run_context import run_context
from warehouse.transform import dbt_args, dbt_build


def test_every_dbt_unit_test_passes(tmp_path):
    from dbt.cli.main import dbtRunner

    # GIVEN the project built on an empty raw layer (unit tests need their parents' relations)
    db = work_db(tmp_path)
    with duckdb.connect(str(db)) as conn:
        create_raw_tables(conn)
    settings = Settings.from_env().with_data_dir(tmp_path)
    now = datetime.now(UTC)
    build = dbt_build(settings, run_context("unit", now, now))
    assert not [n for n in build["nodes"] if n["resource_type"] == "unit_test"], "publishes leave unit tests out"
    # WHEN dbt runs the unit tests
    result = dbtRunner().invoke(dbt_args(settings, "test", "--select", "test_type:unit"))
    # THEN every one of them ran and passed
    names = sorted(r.node.name for r in result.result.results)
    assert result.success, [(r.node.name, str(r.status), r.message) for r in result.result.results]
    assert len(names) >= 3 and "test_medians_and_ratios_are_recomputed_at_each_level" in names
