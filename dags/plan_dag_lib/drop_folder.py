"""The extract DAG of a drop-folder source (S4, S5): list the folder, land new file versions, load.

The three callables have no Airflow imports; `extract_load_dag` wires them into the shared
read_state → extract → load shape.
"""

from __future__ import annotations

from functools import partial

from plan_dag_lib.extract_dag import extract_load_dag
from plan_dag_lib.schedules import Cadence


def _no_state() -> dict:
    # which file versions already landed is read from the landing zone by the extractor
    return {}


def _extract(source: str, state: dict, key: str, span: tuple) -> list[dict]:
    from extract.drops import extract_drop_folder
    from warehouse import paths

    m = extract_drop_folder(source, paths.incoming_dir(), paths.landing_root(), key, span)
    keep = ("manifest_id", "row_count", "quarantined", "rejected_files", "noop", "reused")
    return [{k: m.get(k) for k in keep}]


def _load(source: str, landed: list[dict]) -> dict:
    import duckdb

    from warehouse import paths
    from warehouse.raw_load import load_drop_source

    db = paths.working_db()
    db.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(db)) as conn:
        return {source: load_drop_source(conn, source, paths.landing_root())}


def drop_folder_dag(source: str, *, cadence: Cadence, doc_md: str, tags: list[str]):
    return extract_load_dag(
        source,
        cadence=cadence,
        doc_md=doc_md,
        tags=tags,
        read_state=_no_state,
        extract=partial(_extract, source),
        load=partial(_load, source),
    )
