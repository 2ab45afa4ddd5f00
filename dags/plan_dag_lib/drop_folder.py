"""The three callables of a drop-folder source's extract DAG (S4, S5): list the folder, land
new file versions, load. No Airflow imports; `extract_dag.source_dag` wires them in."""

from __future__ import annotations


def no_state() -> dict:
    # which file versions already landed is read from the landing zone by the extractor
    return {}


def extract(source: str, state: dict, key: str, span: tuple) -> list[dict]:
    from extract.drops import extract_drop_folder
    from warehouse import paths

    m = extract_drop_folder(source, paths.incoming_dir(), paths.landing_root(), key, span)
    return [m.summary() if m is not None else {"noop": True}]


def load(source: str, landed: list[dict]) -> dict:
    from warehouse import duck, paths
    from warehouse.raw_load import load_drop_source

    db = paths.working_db()
    db.parent.mkdir(parents=True, exist_ok=True)
    with duck.connect(str(db)) as conn:
        return {source: load_drop_source(conn, source, paths.landing_root())}
