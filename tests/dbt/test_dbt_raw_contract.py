"""The dbt project's raw-table column lists (sources YAML) equal the pipeline's raw contract.

dbt creates a raw table a source has never delivered from its sources YAML; if that list
drifted from extract/sources/__init__.py (+ the loaders' bookkeeping columns), the loader would later
find a table of the wrong shape. This test keeps the two in step.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from extract.sources import all_endpoints, all_file_tables
from warehouse.raw_load import raw_columns

STAGING = Path(__file__).resolve().parents[2] / "dbt_project" / "models" / "staging"
LOADER_COLUMNS = {"_manifest_id": "varchar", "_landed_at": "timestamptz", "_loaded_at": "timestamptz"}


def dbt_raw_tables() -> dict[str, dict[str, str]]:
    tables = {}
    for path in STAGING.glob("*/_*__sources.yml"):
        for source in yaml.safe_load(path.read_text())["sources"]:
            for table in source["tables"]:
                cols = {c["name"]: c["data_type"] for c in table.get("columns", [])}
                tables[f"{source['schema']}.{table['name']}"] = cols
    return tables


def contract_raw_tables() -> dict[str, dict[str, str]]:
    return {t.raw_table: {**raw_columns(t), **LOADER_COLUMNS} for t in [*all_endpoints(), *all_file_tables()]}


def test_dbt_sources_name_exactly_the_contracts_raw_tables():
    # GIVEN the raw tables of extract/sources/__init__.py and the dbt sources YAML
    # THEN both name the same tables
    assert sorted(dbt_raw_tables()) == sorted(contract_raw_tables())


@pytest.mark.parametrize("table", [pytest.param(t, id=t) for t in sorted(contract_raw_tables())])
def test_dbt_source_columns_equal_the_contract_in_order_and_type(table):
    # GIVEN one raw table of the contract
    # THEN dbt lists the same columns, in the same order, with the same types
    assert list(dbt_raw_tables().get(table, {}).items()) == list(contract_raw_tables()[table].items())
