"""The dashboard's audit trail: who logged in (or failed to), looked at which page, downloaded
which table, was refused what — one JSON line per event, never any data.

    {"time": "2026-03-02T01:02:03Z", "event": "download", "user": "li.wei", "page": "explorer",
     "table": "metric_values", "format": "csv", "ip": "10.1.2.3"}

Events: `login`, `login_failed`, `login_refused` (a valid account without a dashboard role),
`logout`, `view` (a page, the first time in a row the user opens it), `download`, `refused` (a
page the user's roles do not allow), `precheck`, `precheck_refused` (a county not assigned to
the user). A file a user uploads is named by its size and the first 16 hex digits of its
SHA-256 only: its name and contents are the sender's.

Where: PLAN_METRICS_DASHBOARD_AUDIT_LOG (docker-compose.yml: `/audit/dashboard-audit.jsonl` on
the volume `dashboard-audit`), created 0640 and only ever appended to; every line also goes to
the dashboard's standard error (`docker compose logs dashboard`). Without the setting (the
local demo) only to standard error.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from datetime import UTC, datetime

_LOCK = threading.Lock()
FIELDS = ("page", "table", "format", "county", "size", "sha256", "reason", "ip")


def log_path() -> str | None:
    from settings import Settings

    return Settings.from_env().dashboard_audit_log


def _clean(value) -> str | int:
    """What a field may hold: short printable text or a number (names typed in a login form are
    untrusted: no control characters, at most 128 characters)."""
    if isinstance(value, int):
        return value
    text = "".join(ch for ch in str(value) if ch.isprintable())
    return text[:128]


def record(event: str, user: str | None, **fields) -> dict:
    """Append one event; returns what was written."""
    entry = {"time": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"), "event": event}
    entry["user"] = _clean(user) if user else None
    for key in FIELDS:
        if fields.get(key) is not None:
            entry[key] = _clean(fields[key])
    line = json.dumps(entry, ensure_ascii=False, sort_keys=False) + "\n"
    path = log_path()
    with _LOCK:
        if path:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)
        sys.stderr.write("audit " + line)
        sys.stderr.flush()
    return entry


def read(path: str) -> list[dict]:
    """Every event of an audit log, oldest first (for the admin and the tests)."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
