"""The plan dashboard (看板): a Streamlit app for the plan office and the public-facing team.

It reads only the published DuckDB file (`$PLAN_METRICS_DATA_DIR/published/plan_metrics.duckdb`),
read-only, and reopens it when a publish swaps a new file in. `make dashboard` starts it.
"""
