"""GIVEN the two requirement sets WHEN their locks are read THEN production's is exactly the
closure of requirements.in, every pin carries hashes, it holds no test or lint tool (nor
astronomer-cosmos, which nothing imports), and development's lock is production's at the same
versions plus the development tools."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
# Tools that test, lint, type-check or format code; none belongs in the production image.
DEV_TOOLS = re.compile(
    r"^(pytest.*|ruff|flake8.*|pylint|black|isort|mypy|coverage|hypothesis|tox|nox|pre-commit|playwright|"
    r"pyright|bandit|ipython|ipdb|jupyter.*|pip-tools|uv|locust)$"
)


def parse_lock(name: str) -> dict[str, dict]:
    """{package: {"version", "hashes", "via"}} from a `uv pip compile --generate-hashes` file."""
    entries, current = {}, None
    for line in (REPO / name).read_text(encoding="utf-8").splitlines():
        if m := re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line):
            current = canonicalize_name(m[1])
            entries[current] = {"version": m[2], "hashes": [], "via": []}
        elif current and (m := re.match(r"^\s+--hash=(sha256:[0-9a-f]{64})", line)):
            entries[current]["hashes"].append(m[1])
        elif current and (m := re.match(r"^\s+#\s+(?:via\s+)?([A-Za-z0-9][A-Za-z0-9._-]*|-r \S+|-c \S+)\s*$", line)):
            entries[current]["via"].append(m[1])
        elif line.strip() and not line.lstrip().startswith(("#", "--hash")):
            raise AssertionError(f"{name}: unexpected line {line!r}")
    return entries


def top_level(name: str) -> list[Requirement]:
    lines = (REPO / name).read_text(encoding="utf-8").splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith(("#", "-"))]


PROD = parse_lock("requirements.lock")
DEV = parse_lock("requirements-dev.lock")


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-dev.lock"])
def test_every_locked_package_is_pinned_with_hashes(lock):
    entries = parse_lock(lock)
    assert len(entries) > 100
    unhashed = [name for name, e in entries.items() if not e["hashes"]]
    assert not unhashed, f"{lock}: no hash for {unhashed}"


def test_the_production_lock_holds_no_test_or_lint_tool():
    tools = sorted(name for name in PROD if DEV_TOOLS.match(name))
    assert not tools, f"requirements.lock holds development tools: {tools}"
    assert "astronomer-cosmos" not in PROD  # measured, never imported (docs/pipeline.md: why dbt is one task)
    # what development adds may be in production only because a production package needs it
    for req in top_level("requirements-dev.in"):
        name = canonicalize_name(req.name)
        if name in PROD:
            assert set(PROD[name]["via"]) - {"-r requirements.in"}, f"{name} is in production only for development"


def test_the_development_lock_is_production_at_the_same_versions_plus_the_dev_tools():
    for name, entry in PROD.items():
        assert name in DEV, f"{name} is in production but not in development"
        assert DEV[name]["version"] == entry["version"], f"{name}: {DEV[name]['version']} != {entry['version']}"
    extra = {canonicalize_name(r.name) for r in top_level("requirements-dev.in")} - set(PROD)
    assert extra and extra <= set(DEV)
    assert {"pytest", "ruff"} <= set(DEV)


def test_the_production_lock_is_exactly_what_requirements_in_needs():
    """The closure of requirements.in (extras followed; markers for Linux and Python 3.11.0, the
    version `make lock` resolves for, so 3.11.x's older patch releases are covered), read from
    the installed packages' metadata (the dev venv has the same versions): nothing missing,
    nothing left over from an earlier set (e.g. cosmos's dependencies)."""
    env = {**default_environment(), "python_version": "3.11", "python_full_version": "3.11.0"}
    seen: dict[str, set[str]] = {}
    todo = [(canonicalize_name(r.name), set(r.extras)) for r in top_level("requirements.in")]
    while todo:
        name, extras = todo.pop()
        if name in seen and extras <= seen[name]:
            continue
        seen[name] = seen.get(name, set()) | extras
        dist = metadata.distribution(name)
        assert canonicalize_name(dist.metadata["Name"]) == name
        assert dist.version == PROD[name]["version"], (
            f"{name}: installed {dist.version}, locked {PROD[name]['version']}"
        )
        for spec in dist.requires or []:
            req = Requirement(spec)
            wanted = [""] + sorted(seen[name])
            if req.marker is None or any(req.marker.evaluate({**env, "extra": e}) for e in wanted):
                todo.append((canonicalize_name(req.name), set(req.extras)))
    missing = sorted(set(seen) - set(PROD))
    leftover = sorted(set(PROD) - set(seen))
    assert not missing, f"needed but not locked: {missing}"
    assert not leftover, f"locked but not needed by requirements.in: {leftover}"
