"""The code follows the house style: ruff lint (including Airflow's AIR rules) and format on the
Python, sqlfluff (dbt templater, DuckDB dialect, dbt_project/.sqlfluff) on the dbt models."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUFF = [sys.executable, "-m", "ruff"]


def test_ruff_lint_passes():
    result = subprocess.run([*RUFF, "check", "."], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean():
    result = subprocess.run([*RUFF, "format", "--check", "."], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sqlfluff_lints_the_dbt_models_clean(tmp_path):
    # the dbt templater compiles the project; its profile wants a working database path, and
    # its target/ and logs/ go to the test's folder, not the checkout's dbt_project/
    env = {
        **os.environ,
        "PLAN_METRICS_WORKING_DB": str(tmp_path / "lint.duckdb"),
        "DBT_TARGET_PATH": str(tmp_path / "target"),
        "DBT_LOG_PATH": str(tmp_path / "logs"),
    }
    sqlfluff = Path(sys.executable).parent / "sqlfluff"
    result = subprocess.run(
        [str(sqlfluff), "lint", "models", "--processes", "2", "--nocolor"],
        cwd=REPO / "dbt_project",
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
