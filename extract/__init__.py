"""Extraction: source clients, normalisation and the immutable landing zone.

No Airflow imports: DAG tasks call these functions with a connection's values and the
run's data interval. Nothing here touches the warehouse.
"""
