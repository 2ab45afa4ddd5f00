"""The DuckDB side: paths, raw loads with watermarks, the quality ledger and publishing.

No Airflow imports: DAG tasks call these functions.
"""
