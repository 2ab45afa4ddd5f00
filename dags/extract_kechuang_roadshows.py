"""
### Extract: Sci-Tech China hub-city roadshows (S2, 科创中国 技术路演) — M01

Pulls `/v1/roadshows` and `/v1/roadshow-projects` from the `kechuang_roadshows` connection
incrementally (`updated_since` watermark minus an overlap, cursor pagination), lands each
run as immutable JSON-lines files under `$PLAN_METRICS_DATA_DIR/landing/kechuang_roadshows/`
and loads them into `raw.kechuang_roadshows__*` exactly once, advancing the watermark in the
same transaction. Emits the `raw/kechuang_roadshows` Asset.

**When it fails**
- `extract` failed: the roadshow system is down or refused the token (the log names the
  call and the retries). Nothing was loaded; clear the task when it is back.
- `load` failed: the landed files are kept; clearing `load` loads them without calling the
  source again. A checksum mismatch means someone edited the landing zone.
- `load` *skipped*: nothing new arrived (no Asset event, no transform).
- Quarantined records are counted in the log and in `meta.quarantine` / `meta.extract_runs`.
"""

from __future__ import annotations

from plan_dag_lib.extract_dag import api_extract_dag
from plan_dag_lib.schedules import DAILY

api_extract_dag("kechuang_roadshows", cadence=DAILY, doc_md=__doc__, tags=["S2", "M01"])
# An Airflow DAG file: Airflow's safe-mode parser only reads files that mention "airflow" and "dag".
