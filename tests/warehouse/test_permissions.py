"""GIVEN the pipeline's file rules (warehouse/permissions.py) WHEN a pipeline process writes, a
publish shares its folder, or an old data folder is checked and fixed THEN folders are 0750,
files 0640, restricted storage 0700/0600, and published/ belongs to the readers group with the
set-group-id bit (2750/0640). The production-shaped run (tests/deployment/test_prod_celery.py)
checks every path its DAGs wrote under Celery."""

from __future__ import annotations

import grp
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from settings import Settings
from warehouse import permissions

REPO = Path(__file__).resolve().parents[2]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def a_group_not_mine() -> str:
    """A group other than the process's own, that this process may give files to (root: any)."""
    mine = os.getgid()
    usable = os.getgroups() if os.geteuid() else [g.gr_gid for g in grp.getgrall()]
    others = [g for g in usable if g != mine]
    return grp.getgrgid(others[0] if others else mine).gr_name


def test_a_pipeline_process_creates_folders_0750_and_files_0640(tmp_path):
    # GIVEN a process that imports the DAGs' shared glue, as every task does (a child: the umask is per process)
    code = (
        "import sys, os, pathlib; sys.path.insert(0, sys.argv[2]); import plan_dag_lib; "
        "d = pathlib.Path(sys.argv[1]) / 'landing' / 'src'; d.mkdir(parents=True); (d / 'part.jsonl').write_text('x'); "
        "import duckdb; duckdb.connect(str(d / 'w.duckdb')).close()"
    )
    subprocess.run(
        ["bash", "-c", 'umask 022 && exec "$@"', "-", sys.executable, "-c", code, str(tmp_path), str(REPO / "dags")],
        check=True,
        cwd=REPO,
        timeout=300,
    )
    # THEN what it made is closed to others, whatever umask it started with
    assert mode(tmp_path / "landing") == 0o750 and mode(tmp_path / "landing" / "src") == 0o750
    assert mode(tmp_path / "landing" / "src" / "part.jsonl") == 0o640
    assert mode(tmp_path / "landing" / "src" / "w.duckdb") == 0o640


def test_the_lineage_file_is_0640_in_a_0750_folder_whichever_process_emits_first(tmp_path):
    # GIVEN a process under the default umask that never imported the DAG glue, as Airflow's
    # scheduler is when it writes a DAG run's OpenLineage event (a child: the umask is per process)
    code = (
        "import sys; from settings import Settings; from warehouse.lineage import SettingsTransport; "
        "from dataclasses import replace; import pathlib; "
        "SettingsTransport(settings=replace(Settings.from_env(), data_dir=pathlib.Path(sys.argv[1])))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLINEAGE_")}
    subprocess.run(
        ["bash", "-c", 'umask 022 && exec "$@"', "-", sys.executable, "-c", code, str(tmp_path)],
        check=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )
    # THEN the events' folder and file are closed to others, as everything else it writes
    assert mode(tmp_path / "lineage") == 0o750
    assert mode(tmp_path / "lineage" / "events.jsonl") == 0o640


def test_a_publish_gives_the_published_folder_to_the_readers_group(tmp_path, monkeypatch):
    published = tmp_path / "published"
    (published / "history").mkdir(parents=True)
    for f in (published / "plan_metrics.duckdb", published / "history" / "plan_metrics-p1.duckdb"):
        f.write_bytes(b"x")
        f.chmod(0o644)
    group = a_group_not_mine()
    monkeypatch.setenv("PLAN_METRICS_READERS_GROUP", group)
    # WHEN the publish shares its folder
    permissions.share_published(Settings.from_env(), published)
    # THEN folder and files belong to the readers group: 2750 / 0640
    gid = grp.getgrnam(group).gr_gid
    for path in [published, *published.rglob("*")]:
        assert path.stat().st_gid == gid, path
        assert mode(path) == (0o2750 if path.is_dir() else 0o640), (path, oct(mode(path)))
    # AND a group that does not exist is a configuration error, named
    monkeypatch.setenv("PLAN_METRICS_READERS_GROUP", "no-such-group-plan-metrics")
    with pytest.raises(ValueError, match="PLAN_METRICS_READERS_GROUP=no-such-group-plan-metrics"):
        permissions.share_published(Settings.from_env(), published)


def test_the_check_lists_what_breaks_the_rules_and_fix_repairs_an_old_data_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("PLAN_METRICS_READERS_GROUP", raising=False)
    data = tmp_path / "data"
    for folder in ("landing/s1", "published/history", "restricted/originals/s4"):
        (data / folder).mkdir(parents=True)
    files = {
        "landing/s1/part.jsonl": 0o644,
        "published/plan_metrics.duckdb": 0o644,
        "restricted/originals/s4/abc": 0o644,
        "warehouse.duckdb": 0o600,
    }
    for name, m in files.items():
        (data / name).write_text("x")
        (data / name).chmod(m)
    for d in [data, *[p for p in data.rglob("*") if p.is_dir()]]:
        d.chmod(0o755)
    wrong = permissions.wrong_modes(data)
    assert len(wrong) == len([data, *data.rglob("*")])  # everything written the old way
    assert any(w.startswith("0o644") and "restricted/originals/s4/abc (should be 0o600)" in w for w in wrong)
    permissions.fix(Settings.from_env().with_data_dir(data))
    assert permissions.wrong_modes(data) == []
    assert mode(data / "restricted") == 0o700 and mode(data / "published") == 0o2750
    assert mode(data / "warehouse.duckdb") == 0o640
