"""
### Extract: rural middle-school science centre monthly reports (S4, 农村中学科技馆运行月报) — M06

Watches `$PLAN_METRICS_INCOMING_DIR/rural_centre_reports/<YYYY-MM>/` for new or changed
spreadsheets (xlsx, xls, csv). A file version (path + sha256) is processed once; a changed
file is a new version and the newest file wins per (centre, month) downstream. Each run
copies the files it read into the landing zone, parses every messy form (encodings, title
rows, merged cells, full-width digits, thousands separators, 合计 rows, county names,
months and percentages written several ways), drops personal data (填报人, 联系电话) and
loads the clean rows into `raw.rural_centre_reports__reports`.

**When it fails / what to check**
- A file with a missing or misspelt header is rejected whole: see `meta.received_files`
  (status `rejected`, reason) and `meta.quarantine`; ask the school to re-upload.
- Rows with impossible values (negative, more than 31 days, unknown centre or county) are
  quarantined with file, row, column, value and reason (`meta.quarantine`); the rest loads.
- Centre ids are checked against the S1 registry: run `extract_scipop_platform` first.
- `load` *skipped*: no new files (no Asset event, no transform).
"""

from __future__ import annotations

from plan_dag_lib.drop_folder import drop_folder_dag
from plan_dag_lib.schedules import DROP_FOLDER

drop_folder_dag("rural_centre_reports", cadence=DROP_FOLDER, doc_md=__doc__, tags=["S4", "M06"])
# An Airflow DAG file: Airflow's safe-mode parser only reads files that mention "airflow" and "dag".
