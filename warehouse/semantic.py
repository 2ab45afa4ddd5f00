"""The semantic layer on the published file: MetricFlow's `mf` CLI, read-only (`make metrics`).

    python -m warehouse.semantic --metrics orders_placed --group-by order__industry,metric_time__month
    python -m warehouse.semantic list metrics

Arguments starting with an option are `mf query`'s; anything else is an `mf` command line
(`list metrics`, `list dimensions --metrics …`, `query --explain …`). The metrics and the
semantic models live in `dbt_project/models/marts/semantic/` (docs/readers.md, "The semantic
layer").

How it stays read-only and out of the checkout: `mf` reads the semantic manifest from
`<project>/target/semantic_manifest.json` and writes its log into the project's log folder,
so it is given a reader's project folder under the data folder (`settings.dbt_dir/semantic`:
a link to `dbt_project.yml`, its own `target/` and `logs/`), where `dbt parse` with the
profile's `published` target writes the manifest. That target is an in-memory DuckDB that
ATTACHes the published file READ_ONLY as `plan_metrics` (the file's relations keep their
names); every `mf` run is a new process, so it sees the file the last publish swapped in.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from settings import Settings
from warehouse.transform import dbt_args

TARGET = "published"


class SemanticLayerError(RuntimeError):
    """The semantic manifest could not be made, or there is no published file to query."""


def reader_project(settings: Settings) -> Path:
    """The folder `mf` takes for the dbt project: a link to the checkout's `dbt_project.yml`
    (MetricFlow reads the project's name, profile and paths from it), with `target/` and
    `logs/` of its own under the data folder."""
    folder = settings.dbt_dir / "semantic"
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    link = folder / "dbt_project.yml"
    source = settings.dbt_project_dir / "dbt_project.yml"
    if not (link.is_symlink() and link.resolve() == source.resolve()):
        link.unlink(missing_ok=True)
        link.symlink_to(source)
    return folder


def semantic_manifest(settings: Settings) -> Path:
    """`dbt parse` (in-process) with the `published` target into the reader's project: the
    manifest `mf` reads, its relations named as in the published file. Parsing opens no
    database; it takes ~5 s (`main` skips it while the project is unchanged: `up_to_date`)."""
    from dbt.cli.main import dbtRunner

    project = reader_project(settings)
    args = dbt_args(settings, "parse", "--quiet", "--target", TARGET, target_path=project / "target")
    res = dbtRunner().invoke(args)
    manifest = project / "target" / "semantic_manifest.json"
    if not res.success or not manifest.exists():
        raise SemanticLayerError(f"dbt parse failed for the semantic layer: {res.exception or 'see dbt.log'}")
    return manifest


def up_to_date(settings: Settings) -> bool:
    """Whether the reader's semantic manifest was made after every file of the dbt project
    changed (its relation names do not depend on which published file is read)."""
    manifest = settings.dbt_dir / "semantic" / "target" / "semantic_manifest.json"
    if not manifest.exists():
        return False
    made = manifest.stat().st_mtime_ns
    project = settings.dbt_project_dir
    files = [project / "dbt_project.yml", project / "profiles.yml"]
    files += [p for folder in ("models", "macros", "seeds") for p in (project / folder).rglob("*") if p.is_file()]
    return all(p.stat().st_mtime_ns < made for p in files)


def mf_env(settings: Settings) -> dict[str, str]:
    """`mf`'s environment: the project (the reader's folder) and profiles (the checkout's), the
    `published` target and the published file's path (MetricFlow renders the profile without
    `--vars`), and dbt's log folder out of the checkout."""
    project = settings.dbt_dir / "semantic"
    return settings.child_env(
        {
            "DBT_PROJECT_DIR": str(project),
            "DBT_PROFILES_DIR": str(settings.dbt_project_dir),
            "DBT_TARGET": TARGET,
            "DBT_LOG_PATH": str(project / "logs"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "PLAN_METRICS_PUBLISHED_DB": str(settings.published_db),
            "PLAN_METRICS_DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit,
        }
    )


# `mf` itself, with its check for a newer version on PyPI switched off: the pipeline's machines
# reach no network but the sources, and a reader's query is nobody else's business.
MF = (
    "import sys, update_checker; update_checker.UpdateChecker.check = lambda *a, **k: None; "
    "from dbt_metricflow.cli.main import cli; sys.argv[0] = 'mf'; sys.exit(cli())"
)


def mf_command(argv: list[str]) -> list[str]:
    """The `mf` command line for these arguments (`mf query` when they start with an option)."""
    mf = [sys.executable, "-c", MF]
    return [*mf, "query", *argv] if not argv or argv[0].startswith("-") else [*mf, *argv]


def run_mf(settings: Settings, argv: list[str], timeout: float = 300.0, **popen) -> subprocess.CompletedProcess:
    """Run `mf` on the published file (the semantic manifest must have been made)."""
    if not settings.published_db.exists():
        raise SemanticLayerError(f"no published file at {settings.published_db}: run the pipeline first")
    return subprocess.run(
        mf_command(argv), env=mf_env(settings), cwd=settings.dbt_dir / "semantic", timeout=timeout, **popen
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    settings = Settings.from_env()
    started = time.perf_counter()
    try:
        if not up_to_date(settings):  # the project changed since the last one (or there is none)
            semantic_manifest(settings)
            print(f"Semantic manifest made in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        print(f"Querying {settings.published_db}", file=sys.stderr)
        return run_mf(settings, argv).returncode
    except SemanticLayerError as exc:
        print(exc, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
