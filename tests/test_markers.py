"""`make test-fast` leaves out what needs an Airflow scheduler or `airflow dags test`, a browser,
PostgreSQL or Redis by their markers; this keeps every such module marked, so the fast loop
never starts one of them by accident and the full suite still runs them all."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

# What in a test module's source shows it needs the slow part (a fixture from a conftest
# counts through the name of the fixture).
NEEDS = {
    "airflow": (
        r"\bStandalone\(",
        r"\bProdLocal\([^)]*\)\.start\(|\bprod\.start\(",
        r"pipeline\.sh",
        r"airflow dags test",
        r'"dags",\s*"test"',
        r"\.dag_test(_killed_at)?\(",
        r"\bpipeline\.run\(\)",
        r"airflow_standalone\.sh",
        r"pipeline\.run_dags",
    ),
    "browser": (r"from playwright|import playwright", r"/usr/bin/chromium", r"\bdef test_\w+\([^)]*\bbrowser\b"),
    "services": (r"\bProdLocal\([^)]*\)\.start\(|\bprod\.start\(", r"\bPostgres\(", r"\bRedis\("),
}


def marks_of(source: str) -> set[str]:
    """The markers a module applies to all its tests (`pytestmark = ...`)."""
    found = re.search(r"^pytestmark\s*=\s*(.+?)$(?:\n(?=\s))*", source, re.MULTILINE | re.DOTALL)
    if not found:
        return set()
    statement = source[found.start() : source.find("\n\n", found.start())]
    return set(re.findall(r"pytest\.mark\.(\w+)", statement))


def modules() -> list[Path]:
    return sorted(p for p in TESTS.rglob("test_*.py") if p.name != Path(__file__).name)


@pytest.mark.parametrize("module", modules(), ids=lambda p: str(p.relative_to(TESTS)))
def test_a_module_that_needs_airflow_a_browser_or_a_database_server_carries_its_marker(module):
    source = module.read_text(encoding="utf-8")
    needed = {mark for mark, patterns in NEEDS.items() if any(re.search(p, source) for p in patterns)}
    assert needed <= marks_of(source), f"{module.name} needs {sorted(needed - marks_of(source))} in its pytestmark"


def test_the_marker_check_recognises_a_module_that_starts_airflow_without_its_marker():
    # GIVEN a module that runs `make pipeline` but only declares the browser marker
    source = 'import pytest\n\npytestmark = pytest.mark.browser\n\n\ndef test_x():\n    run("pipeline.sh")\n'
    # THEN the check sees the missing airflow marker, and accepts the module once it has it
    assert "airflow" not in marks_of(source)
    fixed = source.replace("pytest.mark.browser", "[pytest.mark.browser, pytest.mark.airflow]")
    assert marks_of(fixed) == {"browser", "airflow"}
