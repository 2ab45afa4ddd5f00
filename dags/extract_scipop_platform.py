"""
### Extract: science popularisation platform (S1, 科普服务平台) — M06

Pulls `/api/v1/exhibition-stops`, `/api/v1/stop-visits` and `/api/v1/rural-centres` from the
`scipop_platform` connection incrementally (`modified_after` watermark minus an overlap).
The API pages by offset over a list that changes while it is read; the extractor uses
`modified_after` as a keyset and restarts at page 1 after every full page, so rows that
shift between pages are never skipped (see `extract/api.py`). Runs land as immutable
JSON-lines files under `$PLAN_METRICS_DATA_DIR/landing/scipop_platform/` and load into
`raw.scipop_platform__*` exactly once, the watermark advancing in the same transaction.
Emits the `raw/scipop_platform` Asset. The rural-centre registry loaded here is what the
S4 monthly reports are checked against, so it runs before them in `make pipeline`.

**When it fails**
- `extract` failed: the platform is down or refused the token (the log names the call and
  the retries). Nothing was loaded; clear the task when it is back.
- `load` failed: the landed files are kept; clearing `load` loads them without calling the
  source again. A checksum mismatch means someone edited the landing zone.
- `load` *skipped*: nothing new arrived (no Asset event, no transform).
- Records missing a required field are quarantined (`meta.quarantine`), counted in the log
  and in `meta.extract_runs`; new fields are kept in `_extra` and logged as schema drift.
"""

from __future__ import annotations

from plan_dag_lib.extract_dag import api_extract_dag
from plan_dag_lib.schedules import DAILY

api_extract_dag("scipop_platform", cadence=DAILY, doc_md=__doc__, tags=["S1", "M06"])
# An Airflow DAG file: Airflow's safe-mode parser only reads files that mention "airflow" and "dag".
