"""One home for each idea: the definitions that used to be repeated stay in their one module,
and no function grows past 80 lines."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PIPELINE = ("dags", "extract", "warehouse", "expectations")
DBT = REPO / "dbt_project"


def _files(*patterns: str, folders: tuple[str, ...] = PIPELINE) -> list[Path]:
    files = [p for folder in folders for pattern in patterns for p in (REPO / folder).rglob(pattern)]
    return (
        files
        + [p for pattern in patterns for p in (DBT / "models").rglob(pattern)]
        + list((DBT / "macros").glob("*.sql"))
    )


def _offenders(pattern: str, home: set[str], *globs: str, folders: tuple[str, ...] = PIPELINE) -> list[str]:
    regex = re.compile(pattern, re.IGNORECASE)
    return sorted(
        f"{p.relative_to(REPO)}:{n}"
        for p in _files(*globs, folders=folders)
        if str(p.relative_to(REPO)) not in home
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if regex.search(line)
    )


# code that is not the pipeline but runs beside it, where helpers used to be copied
AROUND = (*PIPELINE, "dashboard", "bench", "scripts", "deploy")


@pytest.mark.parametrize(
    ("idea", "pattern", "home", "folders"),
    [
        pytest.param(
            "Beijing time",
            r"timedelta\(hours=8\)|Asia/Shanghai|interval 8 hour",
            {"extract/beijing_time.py", "dbt_project/macros/beijing_month.sql"},
            PIPELINE,
            id="beijing-time",
        ),
        pytest.param(
            "the additive units",
            r"""['"]count['"],\s*['"]person_times['"]""",
            set(),
            PIPELINE,
            id="additive-units",
        ),
        pytest.param(
            "meta schema DDL",
            r"create (or replace )?(table|schema)( if not exists)? meta\b|alter table meta\.",
            {"warehouse/meta.py"},
            PIPELINE,
            id="meta-ddl",
        ),
        pytest.param(
            "the list of sources",
            r"""\(\s*['"]scipop_platform['"],\s*['"]kechuang""",
            set(),
            PIPELINE,
            id="source-list",
        ),
        pytest.param(
            "a free port on this machine",
            r"""def _?free_port\b|\.bind\(\(['"][\w.]+['"], 0\)\)""",
            {"deploy/local_stack/processes.py"},
            (*AROUND, "simulator", "tests"),
            id="free-port",
        ),
        pytest.param(
            "whether a table exists",
            r"count\(\*\) from \(?\s*(select [^)]*? from )?(information_schema\.tables|duckdb_tables\(\)|duckdb_views\(\))",
            {"settings/duck.py"},
            AROUND,
            id="table-exists",
        ),
    ],
)
def test_each_idea_has_one_definition(idea, pattern, home, folders):
    offenders = _offenders(pattern, home, "*.py", "*.sql", "*.sh", folders=folders)
    assert offenders == [], f"{idea} is defined outside its home {sorted(home)}: {offenders}"


def test_no_function_is_longer_than_80_lines():
    # the pipeline and the code around it; tests are exempt (a scenario reads best whole)
    long = []
    for folder in (*AROUND, "simulator", "pipeline", "settings"):
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    length = node.end_lineno - node.lineno + 1
                    if length > 80:
                        long.append(f"{path.relative_to(REPO)}:{node.name} ({length} lines)")
    assert long == []


def test_env_example_lists_the_connection_of_every_http_source_in_the_registry():
    from extract.sources import env_example

    # regenerate with: python -m extract.sources env-example
    assert env_example() in (REPO / ".env.example").read_text(encoding="utf-8")


def test_every_duckdb_connection_of_the_pipeline_is_bounded():
    # the pipeline opens DuckDB through settings.duck.connect only (memory limit + spill folder)
    calls = []
    for folder in (*PIPELINE, "pipeline", "settings", "bench"):
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                func = getattr(node, "func", None)
                if isinstance(node, ast.Call) and isinstance(func, ast.Attribute) and func.attr == "connect":
                    if isinstance(func.value, ast.Name) and func.value.id == "duckdb":
                        calls.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert [c.split(":")[0] for c in calls] == ["settings/duck.py"], calls
    # and dbt's connection has the limit of the settings, and the same default for a hand-run dbt
    from settings import DEFAULT_MEMORY_LIMIT, MEMORY_ENV

    profile = (DBT / "profiles.yml").read_text(encoding="utf-8")
    assert f"var('duckdb_memory_limit', env_var('{MEMORY_ENV}', '{DEFAULT_MEMORY_LIMIT}'))" in profile


# every folder of the project's own code (tests aside: a test sets the environment it runs in)
PROJECT = (*PIPELINE, "pipeline", "bench", "dashboard", "deploy", "scripts", "simulator")
ENVIRONMENT = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}


def _environment_and_path_uses(tree: ast.AST) -> list[tuple[int, str]]:
    """Where a module touches the process environment or the import path."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            name = (node.value.id, node.attr)
            if (name[0] == "os" and name[1] in ENVIRONMENT) or name == ("sys", "path"):
                found.append((node.lineno, f"{node.value.id}.{node.attr}"))
        elif isinstance(node, ast.ImportFrom) and node.module in ("os", "sys"):
            names = {a.name for a in node.names} & (ENVIRONMENT | {"path"})
            found += [(node.lineno, f"from {node.module} import {n}") for n in sorted(names)]
    return found


def test_only_the_settings_module_reads_the_environment_and_nothing_edits_the_import_path():
    # the settings are read once where a process starts (settings/, `Settings.from_env`) and
    # passed down; a child process gets its environment from `child_env`; the project is
    # importable from the venv's .pth, the DAG folder from Airflow
    offenders = [
        f"{path.relative_to(REPO)}:{line} {what}"
        for folder in PROJECT
        for path in sorted((REPO / folder).rglob("*.py"))
        for line, what in _environment_and_path_uses(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert offenders == [], "read the settings (settings.Settings) instead:\n" + "\n".join(offenders)
    # the test sees what it looks for
    assert _environment_and_path_uses(ast.parse("import os, sys\nos.environ.get('X')\nsys.path.insert(0, '.')")) == [
        (2, "os.environ"),
        (3, "sys.path"),
    ]
