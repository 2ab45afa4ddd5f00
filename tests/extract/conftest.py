"""Fixtures of the extraction tests."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest


@pytest.fixture
def shared_tmp():
    """A folder the unprivileged user (tests drop to `nobody`) can reach: pytest's own are owner-only."""
    path = Path(tempfile.mkdtemp(prefix="plan-metrics-perm-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)
