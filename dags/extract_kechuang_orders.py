"""
### Extract: order service platform (S3, 复工复产达产订单服务)

Pulls `/v1/orders` and `/v1/service-teams` from the `kechuang_orders` connection
incrementally (watermark on `updated_at` minus an overlap window, cursor pagination), lands
each run as immutable JSON-lines files with a manifest under
`$PLAN_METRICS_DATA_DIR/landing/kechuang_orders/`, then loads them into
`raw.kechuang_orders__*` of the working DuckDB exactly once, advancing the watermark in the
same transaction. Emits the `raw/kechuang_orders` Asset, which schedules `transform_publish`.

Runs hourly (Beijing time); each run lands under its data interval, so clearing a run or
`airflow backfill create --reprocess-behavior completed` reuses what that interval received.

**When it fails**
- `extract_*` failed: the source is down or refused the token (the log says which call
  and after how many retries). Nothing was loaded; clear the task when the source is back.
- `load` failed: the landed files are kept; clearing `load` loads them without calling the
  source again. A checksum mismatch means someone edited the landing zone.
- `load` *skipped*: nothing new arrived; nothing to do (no Asset event, no transform).
- Quarantined records are counted in the log and in `meta.quarantine` / `meta.extract_runs`.
"""

from __future__ import annotations

from plan_dag_lib.extract_dag import api_extract_dag
from plan_dag_lib.schedules import HOURLY

api_extract_dag("kechuang_orders", cadence=HOURLY, doc_md=__doc__, tags=["S3", "M02"])
