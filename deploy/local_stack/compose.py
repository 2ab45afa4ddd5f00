"""What the deployment says, read from its files: docker-compose.yml's services, their commands and
environment (with compose's `${VAR}` rules), and deploy/airflow.env's plain settings.

The process-based run (`ProdLocal`) takes everything from here rather than repeating it, so a
setting added to compose or airflow.env is exercised by the production-shaped test.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import yaml

from settings import REPO

COMPOSE_FILE = REPO / "docker-compose.yml"
AIRFLOW_ENV_FILE = REPO / "deploy" / "airflow.env"
# The compose services that are Airflow components, in the order compose's depends_on starts them.
SERVERS = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
WORKER, WRITER = "airflow-worker", "airflow-writer"
CHECK, INIT, DASHBOARD, PROXY = "secrets-check", "airflow-init", "dashboard", "proxy"
AIRFLOW_PATH = "/airflow"  # where the proxy serves Airflow ([api] base_url's path)
IMAGE_REPO = "/opt/plan-metrics"  # where the image has the project (Dockerfile)
READERS_GROUP = "plan-readers"  # compose's group that may read the published folder
PACKAGES = ("postgresql", "redis-server", "nginx")  # from Debian, when missing


def read_env_file(path: Path) -> dict[str, str]:
    """`deploy/airflow.env`: plain KEY=value lines (the format compose's env_file and this share)."""
    values = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = re.fullmatch(r"([A-Z][A-Z0-9_]*)=([^\s'\"$]*)", line)
        if not m:
            raise ValueError(f"{path}:{n}: not a plain KEY=value line: {line!r}")
        values[m[1]] = m[2]
    return values


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}` and `${VAR?error}`."""

    def sub(m: re.Match) -> str:
        name, op, arg = m[1], m[2] or "", m[3] or ""
        value = variables.get(name)
        unset_or_empty = value is None or (op.startswith(":") and value == "")
        if op.endswith("?") and unset_or_empty:
            raise ValueError(f"required variable {name} is missing a value: {arg}")
        if op.endswith("-") and unset_or_empty:
            return arg
        return value or ""

    return _VAR.sub(sub, text)


def compose_services() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"]


def compose_command(service: str) -> list[str]:
    command = compose_services()[service]["command"]
    return command.split() if isinstance(command, str) else list(command)
