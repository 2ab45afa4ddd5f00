"""Benchmarks of the pipeline against its physical limits (`make bench`, `python -m bench`).

Each pipeline stage runs in its own subprocess (`bench.stage`) so its wall time and peak
RSS are its own; next to each stage the same work is done the bare way (a plain `requests`
loop, DuckDB's `read_json`, dbt's compiled SQL run directly) in the same run. The report
is JSON plus a short table; nothing here asserts anything about time.
"""
