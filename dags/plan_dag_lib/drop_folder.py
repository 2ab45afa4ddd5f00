"""The three callables of a drop-folder source's extract DAG (S4, S5): list the folder, land
new file versions, load. No Airflow imports; `extract_dag.source_dag` wires them in."""

from __future__ import annotations


def no_state() -> dict:
    # which file versions already landed is read from the landing zone by the extractor
    return {}


def extract(source: str, state: dict, key: str, span: tuple) -> list[dict]:
    from extract.drops import DropSettings, extract_drop_folder
    from plan_dag_lib import task_settings

    settings = task_settings()
    drops = DropSettings.of(settings)
    m = extract_drop_folder(source, settings.incoming_dir, settings.landing_root, key, span, settings=drops)
    return [m.summary() if m is not None else {"noop": True}]


def load(source: str, landed: list[dict]) -> dict:
    from plan_dag_lib import task_settings
    from warehouse import duck
    from warehouse.raw_load import load_drop_source

    settings = task_settings()
    db = settings.working_db
    db.parent.mkdir(parents=True, exist_ok=True)
    with duck.connect(db, settings) as conn:
        return {source: load_drop_source(conn, source, settings.landing_root)}
