"""The dbt project's models that span every source are generated from the source registry
(extract/sources/__init__.py): `macros/source_registry.sql` is the registry's copy for dbt, the union
models (int_quarantined_records, int_metric_events) are macros over it, and every checked model
is tested on the key its registry entry gives. These tests keep the copies equal, so a source
added to the registry and scaffolded is in every union without an edit of a shared file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from extract.sources import SOURCES
from extract.sources.dbt_files import DBT, REGISTRY_MACRO, registry_macro, scaffold

MODELS = DBT / "models"


def _model_files() -> dict[str, Path]:
    return {p.stem: p for p in MODELS.rglob("*.sql")}


def _model_properties() -> dict[str, dict]:
    props = {}
    for path in MODELS.rglob("*.yml"):
        for model in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("models") or []:
            props[model["name"]] = model
    return props


def _tables():
    return [(s, t) for s in SOURCES.values() for t in (*s.endpoints, *s.tables)]


def test_the_dbt_copy_of_the_registry_is_written_from_it():
    # GIVEN the registry THEN dbt's copy is exactly what the generator writes from it
    # (rewrite it with: python -m extract.sources dbt-registry)
    assert (DBT / REGISTRY_MACRO).read_text(encoding="utf-8") == registry_macro()


def test_every_model_the_registry_names_exists():
    # GIVEN the checked and metric-events models of every registry source
    named = [t.checked_model for _, t in _tables() if t.checked_model]
    named += [m for s in SOURCES.values() for m in s.metric_events]
    # THEN each is a model of the dbt project
    assert sorted(set(named) - set(_model_files())) == []


def test_every_checked_and_metric_events_model_of_the_project_is_in_the_registry():
    # GIVEN the project's int_*_checked and int_*_metric_events models (the union model aside)
    files = {n for n in _model_files() if n.endswith("_checked") or n.endswith("_metric_events")}
    files.discard("int_metric_events")
    # THEN the registry names each, so the union models read every one of them
    named = {t.checked_model for _, t in _tables()} | {m for s in SOURCES.values() for m in s.metric_events}
    assert sorted(files - named) == []


@pytest.mark.parametrize("table", [pytest.param(t, id=t.checked_model) for _, t in _tables() if t.checked_model])
def test_every_checked_model_is_tested_on_its_registry_key(table):
    # GIVEN a table with a checked model THEN the model's key test names the registry's key
    props = _model_properties().get(table.checked_model) or {}
    keys = [
        t["model_rules"]["arguments"].get("key")
        for t in props.get("data_tests") or []
        if isinstance(t, dict) and "model_rules" in t
    ]
    assert keys == [list(table.key)]


def test_the_scaffold_finds_every_file_of_every_registry_source_in_place(tmp_path):
    # GIVEN a copy of the dbt project WHEN each registry source is scaffolded
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    written = [p for name in SOURCES for p in scaffold(name, project)]
    # THEN nothing is written: every source's own files are where the scaffold puts them
    assert written == []
