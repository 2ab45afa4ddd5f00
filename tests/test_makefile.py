"""The Makefile explains itself (issue 17): `make help` lists every target with its one-line
description, `make` alone still runs `make run`, and `make clean` (scripts/clean.py) says
what it removed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MAKEFILE = REPO / "Makefile"


def phony_targets() -> list[str]:
    text = MAKEFILE.read_text(encoding="utf-8")
    return [t for line in re.findall(r"^\.PHONY:(.*)$", text, re.MULTILINE) for t in line.split()]


def rule_targets() -> set[str]:
    text = MAKEFILE.read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z][A-Za-z_-]*):(?!=)", text, re.MULTILINE))


# run as a make of its own, not a sub-make of `make test` (which would add "make[1]: Entering
# directory" lines and pass its flags on)
MAKE_ENV = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", *args], cwd=REPO, capture_output=True, text=True, timeout=60, env=MAKE_ENV)


def test_make_help_lists_every_target_of_the_makefile_with_a_description():
    # GIVEN the Makefile's targets: every rule, and everything declared .PHONY
    phony = phony_targets()
    assert len(phony) == len(set(phony)), "a target is declared .PHONY twice"
    assert set(phony) <= rule_targets(), f".PHONY names targets without a rule: {set(phony) - rule_targets()}"
    # WHEN `make help` runs
    result = make("-s", "help")
    assert result.returncode == 0, result.stderr
    listed = dict(re.findall(r"^  (\S+)\s+(\S.*)$", result.stdout, re.MULTILINE))
    # THEN it lists each target once, with a description, and nothing else
    assert set(listed) == rule_targets() == set(phony)
    assert all(len(description) > 10 for description in listed.values()), listed


def test_make_with_no_target_still_runs_make_run():
    # `make -n` prints what it would do, without doing it
    result = make("-n")
    assert result.returncode == 0, result.stderr
    assert "scripts/run_local.py" in result.stdout.splitlines()[-1]


def tree(root: Path) -> dict[str, int]:
    """A checkout's worth of pipeline and demo output, with the bytes each top folder holds."""
    files = {
        "data/demo/seed42-scale1/warehouse/plan_metrics_work.duckdb": 3_000_000,
        "data/demo/seed42-scale0.2/published/plan_metrics.duckdb": 1_200_000,
        "data/demo/seed42-scale0.2/world.json": 150,
        "incoming/rural_centre_reports/2021-12/report.xlsx": 20_000,
        "dbt_project/target/manifest.json": 500_000,
        ".venv/bin/python": 10,
        "dbt_project/models/keep.sql": 10,
    }
    for name, size in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x" * size)
    return files


def test_make_clean_lists_each_removed_path_with_its_size_and_keeps_the_virtualenv(tmp_path):
    # GIVEN a checkout with data (two demo worlds and `latest`), incoming, dbt's target, a
    # virtualenv, and a `latest` link to a folder outside the checkout
    root, outside = tmp_path / "checkout", tmp_path / "outside-world"
    tree(root)
    (outside / "landing").mkdir(parents=True)
    os.symlink(outside, root / "data" / "demo" / "latest")
    # WHEN make clean's script runs on it
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "clean.py"), "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # THEN it names each removed path with its size (the worlds in data/ by name)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "removed data/  (4.2 MB; demo worlds: seed42-scale0.2, seed42-scale1)",
        "removed incoming/  (20.0 kB)",
        "removed dbt_project/target/  (500.0 kB)",
    ]
    # AND those are gone, and the virtualenv, the models and what `latest` pointed at stay
    assert not any((root / p).exists() for p in ("data", "incoming", "dbt_project/target"))
    assert (root / ".venv" / "bin" / "python").exists() and (root / "dbt_project" / "models" / "keep.sql").exists()
    assert (outside / "landing").is_dir()
    # AND a second clean says there is nothing to remove
    again = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "clean.py"), "--root", str(root)], capture_output=True, text=True
    )
    assert again.stdout == "nothing to remove\n"
