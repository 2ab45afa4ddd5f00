"""
### Extract: order service platform (S3, 复工复产达产订单服务)

Pulls `/v1/orders` and `/v1/service-teams` from the `kechuang_orders` connection
incrementally (watermark on `updated_at` minus an overlap window, cursor pagination), lands
each run as immutable JSON-lines files with a manifest under
`$PLAN_METRICS_DATA_DIR/landing/kechuang_orders/`, then loads them into
`raw.kechuang_orders__*` of the working DuckDB exactly once, advancing the watermark in the
same transaction. Emits the `raw/kechuang_orders` Asset, which schedules `transform_publish`.

**When it fails**
- `extract_*` failed: the source is down or refused the token (the log says which call
  and after how many retries). Nothing was loaded; clear the task when the source is back.
- `load` failed: the landed files are kept; clearing `load` loads them without calling the
  source again. A checksum mismatch means someone edited the landing zone.
- Quarantined records are counted in the log and in `meta.quarantine` / `meta.extract_runs`.
"""

from __future__ import annotations

from airflow.sdk import dag, task
from pendulum import datetime
from plan_dag_lib import DEFAULT_ARGS, RAW_ASSETS, WRITER_POOL, alert_on_failure, http_source, interval, run_key

SOURCE = "kechuang_orders"


@dag(
    dag_id="extract_kechuang_orders",
    schedule="@hourly",
    start_date=datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "on_failure_callback": alert_on_failure},
    tags=["extract", "S3", "M02"],
    doc_md=__doc__,
)
def extract_kechuang_orders():
    @task(pool=WRITER_POOL)
    def read_watermarks() -> dict:
        from extract.sources import ENDPOINTS
        from warehouse import paths
        from warehouse.raw_load import read_watermark

        return {ep.name: read_watermark(paths.working_db(), ep) for ep in ENDPOINTS[SOURCE]}

    @task
    def extract(watermarks: dict, **context) -> list[dict]:
        from extract.api import extract_cursor_endpoint
        from extract.http_client import ApiClient
        from extract.sources import ENDPOINTS
        from warehouse import paths

        base_url, token = http_source(SOURCE)
        landed = []
        for ep in ENDPOINTS[SOURCE]:
            client = ApiClient(base_url, token)
            try:
                m = extract_cursor_endpoint(
                    client, ep, paths.landing_root(), run_key(context), watermarks.get(ep.name), interval(context)
                )
            finally:
                client.close()
            landed.append({k: m.get(k) for k in ("manifest_id", "row_count", "quarantined", "pages", "retries")})
        return landed

    @task(pool=WRITER_POOL, outlets=[RAW_ASSETS[SOURCE]])
    def load(landed: list[dict]) -> dict:
        import duckdb

        from extract.sources import ENDPOINTS
        from warehouse import paths
        from warehouse.raw_load import load_endpoint

        db = paths.working_db()
        db.parent.mkdir(parents=True, exist_ok=True)
        with duckdb.connect(str(db)) as conn:
            return {ep.name: load_endpoint(conn, ep, paths.landing_root()) for ep in ENDPOINTS[SOURCE]}

    load(extract(read_watermarks()))


extract_kechuang_orders()
