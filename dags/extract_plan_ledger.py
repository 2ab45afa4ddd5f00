"""
### Extract: plan activity ledger (S5, 一揽子计划实施台账) — M03–M09 and targets

Watches `$PLAN_METRICS_INCOMING_DIR/plan_ledger/` for new or changed workbooks. Each new
version is copied into the landing zone and its sheets `台账` (activities) and `目标`
(targets) are loaded into `raw.plan_ledger__activities` and `raw.plan_ledger__targets`; a
newer workbook replaces the rows of an older one for the same (指标代码, 地区代码, 日期)
downstream.

**When it fails / what to check**
- A workbook without a `台账` sheet or with a misspelt header is rejected whole
  (`meta.received_files`, `meta.quarantine`).
- Rows with an unknown metric or region code, a bad date or a negative value are
  quarantined with file, sheet row, column, value and reason; the rest loads.
- `load` *skipped*: no new workbook (no Asset event, no transform).
"""

from __future__ import annotations

from plan_dag_lib.drop_folder import drop_folder_dag
from plan_dag_lib.schedules import DROP_FOLDER

drop_folder_dag("plan_ledger", cadence=DROP_FOLDER, doc_md=__doc__, tags=["S5", "M03-M09"])
# An Airflow DAG file: Airflow's safe-mode parser only reads files that mention "airflow" and "dag".
