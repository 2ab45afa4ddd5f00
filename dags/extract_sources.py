"""
### Extract DAGs: one per source of the registry

Every entry of `extract.sources.SOURCES` gets its DAG `extract_<source>` here: HTTP sources
read their endpoints through their Airflow connection, drop-folder sources list their
folder; each lands what it received and loads it into the raw layer (see
`plan_dag_lib/extract_dag.py` for the shape, and each DAG's own docs for what it reads and
**When it fails**). Adding a source is one registry entry plus its dbt models: no DAG file.
"""

# An Airflow DAG file: Airflow's safe-mode parser only reads files that mention "airflow" and "dag".
from __future__ import annotations

from plan_dag_lib.extract_dag import source_dag

from extract.sources import SOURCES

for _source in SOURCES.values():
    source_dag(_source)
