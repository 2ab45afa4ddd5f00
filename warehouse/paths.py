"""Where everything lives, from PLAN_METRICS_DATA_DIR and PLAN_METRICS_INCOMING_DIR."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    return Path(os.environ.get("PLAN_METRICS_DATA_DIR") or REPO / "data").resolve()


def incoming_dir() -> Path:
    return Path(os.environ.get("PLAN_METRICS_INCOMING_DIR") or REPO / "incoming").resolve()


def landing_root() -> Path:
    return data_dir() / "landing"


def working_db() -> Path:
    """The pipeline's own database: raw, staging, marts, meta. Readers never open it."""
    return data_dir() / "warehouse" / "plan_metrics_work.duckdb"


def published_dir() -> Path:
    return data_dir() / "published"


def published_db() -> Path:
    """What analysts and dashboards open, read-only."""
    return published_dir() / "plan_metrics.duckdb"


def dbt_project_dir() -> Path:
    return REPO / "dbt_project"
