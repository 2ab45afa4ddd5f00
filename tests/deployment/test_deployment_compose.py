"""GIVEN docker-compose.yml, the Dockerfile and .env.example WHEN read statically (no Docker
engine runs here) THEN the production deployment is complete and consistent: every Airflow
component on the CeleryExecutor with PostgreSQL and Redis, one image built from exactly
requirements.lock, the data folder on a volume, every secret from the environment, and the
DuckDB writer tasks pinned to a single worker."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "dags"))  # plan_dag_lib, as the DAG files import it
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES = COMPOSE["services"]
DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")
ENV_EXAMPLE = (REPO / ".env.example").read_text(encoding="utf-8")
LOCK = (REPO / "requirements.lock").read_text(encoding="utf-8")

AIRFLOW_COMMANDS = {
    "airflow-apiserver": "airflow api-server",
    "airflow-scheduler": "airflow scheduler",
    "airflow-dag-processor": "airflow dag-processor",
    "airflow-triggerer": "airflow triggerer",
    "airflow-worker": "airflow celery worker --queues default",
    "airflow-writer": "airflow celery worker --queues duckdb_writer --concurrency 1",
}
AIRFLOW_SERVICES = [*AIRFLOW_COMMANDS, "airflow-init"]


def env_of(service: str) -> dict:
    return SERVICES[service].get("environment") or {}


def test_the_deployment_has_every_airflow_component_plus_postgres_and_redis():
    assert set(SERVICES) == {"postgres", "redis", *AIRFLOW_SERVICES, "dashboard"}
    assert SERVICES["postgres"]["image"].startswith("postgres:")
    assert SERVICES["redis"]["image"].startswith("redis:")


@pytest.mark.parametrize("service", list(AIRFLOW_COMMANDS), ids=list(AIRFLOW_COMMANDS))
def test_each_airflow_component_runs_its_own_command_from_the_project_image(service):
    spec = SERVICES[service]
    assert " ".join(str(spec["command"]).split()) == AIRFLOW_COMMANDS[service]
    assert spec["build"] == "." and spec["image"] == SERVICES["airflow-init"]["image"]
    assert spec.get("restart") == "always"


def test_init_migrates_the_database_and_creates_the_single_slot_writer_pool():
    command = " ".join(str(SERVICES["airflow-init"]["command"]).split())
    assert "airflow db migrate" in command
    assert re.search(r"airflow pools set duckdb_writer 1\b", command)
    for service in AIRFLOW_COMMANDS:  # nothing starts before the database is migrated
        depends = SERVICES[service]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert "airflow-init" in depends or "airflow-apiserver" in depends


@pytest.mark.parametrize("service", AIRFLOW_SERVICES, ids=AIRFLOW_SERVICES)
def test_every_airflow_service_uses_celery_postgres_redis_and_the_shared_data_volume(service):
    env = env_of(service)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://airflow:${POSTGRES_PASSWORD")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres/airflow")
    assert (
        env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
        and "@redis:6379" in env["AIRFLOW__CELERY__BROKER_URL"]
    )
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    volumes = SERVICES[service]["volumes"]
    assert f"plan-data:{env['PLAN_METRICS_DATA_DIR']}" in volumes
    assert any(v.endswith(f":{env['PLAN_METRICS_INCOMING_DIR']}:ro") for v in volumes), "drop folder read-only"
    assert SERVICES[service].get("env_file") == [".env"]


def test_only_one_worker_serves_the_duckdb_writer_queue():
    from plan_dag_lib import WRITER_POOL, WRITER_QUEUE

    serving = [s for s, spec in SERVICES.items() if f"--queues {WRITER_QUEUE}" in str(spec.get("command", ""))]
    assert serving == ["airflow-writer"]
    assert SERVICES["airflow-writer"]["deploy"]["replicas"] == 1
    assert WRITER_POOL == "duckdb_writer"
    # the scalable workers must not pick writer tasks up
    assert WRITER_QUEUE not in SERVICES["airflow-worker"]["command"]


def test_every_named_volume_is_declared_and_every_declared_one_is_used():
    used = set()
    for spec in SERVICES.values():
        for v in spec.get("volumes", []):
            source = v["source"] if isinstance(v, dict) else v.split(":")[0]
            if not source.startswith((".", "/", "$")):
                used.add(source)
    assert used == set(COMPOSE["volumes"])


def test_every_variable_the_compose_file_reads_is_in_env_example_or_has_a_default():
    text = (REPO / "docker-compose.yml").read_text(encoding="utf-8")
    example_keys = {
        line.split("=", 1)[0] for line in ENV_EXAMPLE.splitlines() if "=" in line and not line.startswith("#")
    }
    for name, modifier in re.findall(r"\$\{([A-Z0-9_]+)(:?[-?][^}]*)?\}", text):
        if modifier.startswith((":-", "-")):
            continue
        assert name in example_keys, f"${{{name}}} is read by docker-compose.yml but missing from .env.example"


def test_secrets_come_from_the_environment_never_from_the_compose_file():
    for service in AIRFLOW_SERVICES + ["postgres"]:
        for key, value in env_of(service).items():
            if re.search(r"PASSWORD|SECRET|FERNET|TOKEN", key):
                assert str(value).startswith("${"), f"{service}.{key} is hard-coded"
    assert "AIRFLOW_CONN_KECHUANG_ORDERS=" in ENV_EXAMPLE  # source connections come from .env


def test_healthchecks_only_use_tools_their_images_have():
    assert SERVICES["postgres"]["healthcheck"]["test"][1] == "pg_isready"
    assert SERVICES["redis"]["healthcheck"]["test"][1] == "redis-cli"
    # python:*-slim has no curl: the api-server is checked with python
    assert SERVICES["airflow-apiserver"]["healthcheck"]["test"][1] == "python"


def test_the_dockerfile_installs_exactly_requirements_lock_and_copies_the_pipeline():
    assert re.search(r"^FROM python:3\.11", DOCKERFILE, re.M)
    installs = re.findall(r"pip install[^\n\\]*", DOCKERFILE)
    assert installs == ["pip install --no-cache-dir -r requirements.lock "], installs
    assert re.search(r"^COPY requirements\.lock ", DOCKERFILE, re.M)
    for folder in ("dags", "extract", "warehouse", "expectations", "dbt_project", "dashboard"):
        assert re.search(rf"^COPY {folder}/ {folder}/$", DOCKERFILE, re.M), f"{folder}/ not in the image"
    assert "COPY simulator" not in DOCKERFILE  # production never serves the simulator
    assert re.search(r"^USER airflow$", DOCKERFILE, re.M)


@pytest.mark.parametrize(
    "package",
    [
        "apache-airflow",
        "apache-airflow-providers-celery",
        "celery",
        "redis",
        "psycopg2-binary",
        "dbt-duckdb",
        "duckdb",
        "streamlit",
    ],
)
def test_the_lock_pins_what_the_deployment_needs(package):
    assert re.search(rf"^{re.escape(package)}==\S+$", LOCK, re.M | re.I), (
        f"{package} is not pinned in requirements.lock"
    )


def test_the_dashboard_serves_the_published_folder_read_only_without_airflow_settings_or_secrets():
    spec = SERVICES["dashboard"]
    assert spec["build"] == "." and spec["image"] == SERVICES["airflow-init"]["image"]
    assert " ".join(str(spec["command"]).split()) == "python -m dashboard --address 0.0.0.0 --port 8501"
    (mount,) = spec["volumes"]  # only the published folder of the data volume, read-only
    assert mount["type"] == "volume" and mount["source"] == "plan-data" and mount["read_only"] is True
    assert mount["volume"]["subpath"] == "published"
    assert mount["target"] == spec["environment"]["PLAN_METRICS_DATA_DIR"] + "/published"
    assert "env_file" not in spec and not any(k.startswith("AIRFLOW") for k in spec["environment"])
    assert spec["ports"] == ["8501:8501"] and spec["healthcheck"]["test"][1] == "python"
    assert "_stcore/health" in spec["healthcheck"]["test"][-1]
