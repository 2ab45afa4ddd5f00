"""The dbt project's copies of the source registry (extract/sources/__init__.py), written from it.

- `registry_macro()` is `dbt_project/macros/source_registry.sql`, generated whole: each
  source's checked models (with their keys) and metric-event models. The union models
  `int_quarantined_records` and `int_metric_events` are macros over it
  (macros/source_unions.sql), so a new source never edits them; `tests/dbt/test_dbt_registry.py`
  keeps the file equal to the registry (rewrite it with `python -m extract.sources dbt-registry`).
- `scaffold(source)` writes a new source's own dbt files from its entry, the way dbt-codegen's
  `generate_source` / `generate_base_model` do: the sources YAML (the raw contract), a staging
  model per table, a checked model (no rules yet) per checked table, a metric-events skeleton
  per events model, and the models YAML with each model's key test. It never overwrites a file.
"""

from __future__ import annotations

import json
from pathlib import Path

from extract.sources import SOURCES, Endpoint, FileTable, Source, raw_columns
from settings import REPO

DBT = REPO / "dbt_project"
REGISTRY_MACRO = Path("macros") / "source_registry.sql"
LOADER_COLUMNS = {"_manifest_id": "varchar", "_landed_at": "timestamptz", "_loaded_at": "timestamptz"}
EVENT_COLUMNS = ("metric_id", "region_code", "period_month", "value", "entity_id")


def registry_entries(sources: dict[str, Source] | None = None) -> list[dict]:
    """What dbt needs of each source, in the registry's order (plain lists and strings)."""
    return [
        {
            "source": s.name,
            "kind": s.kind,
            "checked": [
                {"table": t.name, "model": t.checked_model, "key": list(t.key)}
                for t in (*s.endpoints, *s.tables)
                if t.checked_model
            ],
            "metric_events": list(s.metric_events),
        }
        for s in (sources or SOURCES).values()
    ]


def registry_macro(sources: dict[str, Source] | None = None) -> str:
    entries = ",\n".join(f"    {json.dumps(e, ensure_ascii=False)}" for e in registry_entries(sources))
    return (
        "{#- Written by `python -m extract.sources dbt-registry` from the source registry\n"
        "    (extract/sources/__init__.py): do not edit. Each source's checked models with their keys and its\n"
        "    metric-event models, which the union models read (macros/source_unions.sql). -#}\n"
        "{% macro source_registry() -%}\n"
        "{{ return([\n"
        f"{entries}\n"
        "]) }}\n"
        "{%- endmacro %}\n"
    )


def write_registry(dbt_dir: Path = DBT) -> Path:
    path = dbt_dir / REGISTRY_MACRO
    path.write_text(registry_macro(), encoding="utf-8")
    return path


# --- scaffold -----------------------------------------------------------------------------


def _tables(source: Source) -> list[Endpoint | FileTable]:
    return [*source.endpoints, *source.tables]


def _staged(field: str, raw_type: str) -> str:
    """A raw column as staging types it: `*_at` strings are instants, `*_on` / `*_date` strings
    are calendar dates (sources.md's naming); everything else passes as it landed."""
    if raw_type == "varchar" and field.endswith("_at"):
        return f"cast({field} as timestamp with time zone) as {field}"
    if raw_type == "varchar" and field.endswith(("_on", "_date")):
        return f"cast({field} as date) as {field}"
    return field


def sources_yaml(source: Source) -> str:
    lines = [
        "version: 2",
        "",
        "# The raw tables' columns are the raw contract of extract/sources/__init__.py (tests/dbt keeps them equal).",
        "sources:",
        f"  - name: {source.name}",
        f"    description: {json.dumps(source.title, ensure_ascii=False)}",
        "    schema: raw",
        "    tables:",
    ]
    for t in _tables(source):
        lines += [f"      - name: {source.name}__{t.name}", "        columns:"]
        for name, typ in {**raw_columns(t), **LOADER_COLUMNS}.items():
            lines.append(f"          - {{name: {name}, data_type: {typ}}}")
    return "\n".join(lines) + "\n"


def staging_model(source: Source, table: Endpoint | FileTable) -> str:
    columns = [_staged(f, typ) for f, typ in table.fields.items()]
    if isinstance(table, FileTable):
        lineage = {"_file_path": "source_file_path", "_file_mtime": "source_file_mtime", "_sheet": "source_sheet"}
        lineage |= {"_row_number": "source_row_number", "_file_received_seq": "source_received_seq"}
        columns += [f"{raw} as {staged}" for raw, staged in lineage.items()] + ["_landed_at as source_landed_at"]
        latest = f"{{{{ newest_file_row('{', '.join(table.key)}') }}}}"
        last = "select * from latest"
    else:
        columns += ["_extra as extra_fields", "_landed_at", "_seq"]
        latest = f"{{{{ latest_version('{', '.join(table.key)}') }}}}"
        last = "select * exclude (_landed_at, _seq) from latest"
    body = ",\n".join(f"        {c}" for c in columns)
    return (
        f"-- {table.name_en or table.name} of {source.title}: the latest version of each record, typed.\n"
        f"with source as (\n    select * from {{{{ source('{source.name}', '{source.name}__{table.name}') }}}}\n),\n\n"
        f"renamed as (\n    select\n{body}\n    from source\n),\n\n"
        f"latest as (\n    select * from renamed\n    {latest}\n),\n\n"
        f"final as (\n    {last}\n)\n\nselect * from final\n"
    )


def checked_model(source: Source, table: Endpoint | FileTable) -> str:
    return (
        f"-- {table.name_en or table.name} of {source.title} with the first staging rule each breaks\n"
        "-- (macros/quarantine.sql): add rules as (condition, column, value, reason, reason key).\n"
        f"with staged as (\n    select * from {{{{ ref('stg_{source.name}__{table.name}') }}}}\n),\n\n"
        "checked as (\n    select\n        *,\n        {{ quarantine_columns([]) }}\n    from staged\n),\n\n"
        "final as (\n    select * from checked\n)\n\nselect * from final\n"
    )


def metric_events_model(source: Source, model: str) -> str:
    table = next((t for t in _tables(source) if t.checked_model), _tables(source)[0])
    ref = table.checked_model or f"stg_{source.name}__{table.name}"
    where = "\n    where quarantine_reason is null" if table.checked_model else ""
    return (
        f"-- Metric events of {source.title}: one row per record and metric at the region the\n"
        "-- source gives (metric_id, region_code, period_month, value, entity_id); every metric_id\n"
        "-- needs a row in seeds/metric_definitions.csv.\n"
        f"with records as (\n    select * from {{{{ ref('{ref}') }}}}{where}\n),\n\n"
        "final as (\n    select\n"
        "        cast(null as varchar) as metric_id,\n"
        "        cast(null as varchar) as region_code,\n"
        "        cast(null as date) as period_month,\n"
        "        {{ event_value('null') }} as value,\n"
        f"        cast({table.key[0]} as varchar) as entity_id\n"
        "    from records\n    where false\n)\n\nselect * from final\n"
    )


def _key_test(key: list[str] | tuple[str, ...], indent: str) -> list[str]:
    return [
        f"{indent}data_tests:",
        f"{indent}  - model_rules:",
        f"{indent}      arguments:",
        f"{indent}        key: [{', '.join(key)}]",
    ]


def models_yaml(source: Source) -> str:
    lines = ["version: 2", "", "models:"]
    for t in _tables(source):
        lines += [
            f"  - name: stg_{source.name}__{t.name}",
            f"    description: The latest version of each {t.name_en or t.name}.",
        ]
        lines += _key_test(t.key, "    ") + [""]
        if t.checked_model:
            lines += [f"  - name: {t.checked_model}", f"    description: {t.name_en or t.name}; no staging rule yet."]
            lines += _key_test(t.key, "    ") + [""]
    for model in source.metric_events:
        lines += [f"  - name: {model}", f"    description: Metric events of {source.code}.", "    columns:"]
        lines += [f"      - name: {c}" for c in EVENT_COLUMNS] + [""]
    return "\n".join(lines).rstrip() + "\n"


def scaffold_files(source: Source) -> dict[Path, str]:
    """Every file of the source's own dbt models, by path inside the dbt project."""
    staging = Path("models") / "staging" / source.name
    files = {
        staging / f"_{source.name}__sources.yml": sources_yaml(source),
        staging / f"_{source.name}__models.yml": models_yaml(source),
    }
    for t in _tables(source):
        files[staging / f"stg_{source.name}__{t.name}.sql"] = staging_model(source, t)
        if t.checked_model:
            files[Path("models") / "intermediate" / "quality" / f"{t.checked_model}.sql"] = checked_model(source, t)
    for model in source.metric_events:
        files[Path("models") / "intermediate" / "metrics" / f"{model}.sql"] = metric_events_model(source, model)
    return files


def scaffold(name: str, dbt_dir: Path = DBT) -> list[Path]:
    """Write the source's dbt files that do not exist yet, and the registry macro; return what
    was written. A file that exists is the developer's and stays as it is."""
    written = []
    for rel, text in scaffold_files(SOURCES[name]).items():
        path = dbt_dir / rel
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
    registry = dbt_dir / REGISTRY_MACRO
    if not registry.exists() or registry.read_text(encoding="utf-8") != registry_macro():
        written.append(write_registry(dbt_dir))
    return written
