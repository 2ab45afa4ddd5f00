"""GIVEN docker-compose.yml, deploy/airflow.env, deploy/nginx.conf, the Dockerfile and .env.example
WHEN read statically (no Docker engine runs here) THEN the production deployment is complete
and consistent: every Airflow component on the CeleryExecutor with PostgreSQL and Redis, one
image built from the hashed production lock, the data folder on a volume, every secret from the
environment and refused when missing, empty, a placeholder or not random, each service given
only the secrets it uses, one TLS proxy the only published port (the dashboard and Airflow
behind it, the dashboard behind a login), Redis behind its password, and the DuckDB writer tasks
pinned to a single worker. That the same file runs is shown by tests/deployment/test_prod_celery.py
(deploy/local_stack reads it)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "dags"))  # plan_dag_lib, as the DAG files import it
from deploy import env_secrets  # noqa: E402
from deploy.local_stack.compose import interpolate, read_env_file  # noqa: E402
from deploy.local_stack.stack import ProdLocal  # noqa: E402
from extract.sources import http_sources  # noqa: E402

COMPOSE_TEXT = (REPO / "docker-compose.yml").read_text(encoding="utf-8")
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
SERVICES = COMPOSE["services"]
DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")
ENV_EXAMPLE = (REPO / ".env.example").read_text(encoding="utf-8")
AIRFLOW_ENV = read_env_file(REPO / "deploy" / "airflow.env")
INIT = (REPO / "deploy" / "init.sh").read_text(encoding="utf-8")
LOCK = (REPO / "requirements.lock").read_text(encoding="utf-8")

AIRFLOW_COMMANDS = {
    "airflow-apiserver": "airflow api-server --proxy-headers",
    "airflow-scheduler": "airflow scheduler",
    "airflow-dag-processor": "airflow dag-processor",
    "airflow-triggerer": "airflow triggerer",
    "airflow-worker": "airflow celery worker --queues default",
    "airflow-writer": "python -m pipeline.writer_worker celery worker --queues duckdb_writer --concurrency 1",
}
AIRFLOW_SERVICES = [*AIRFLOW_COMMANDS, "airflow-init"]


def env_of(service: str) -> dict:
    return SERVICES[service].get("environment") or {}


def test_the_deployment_has_every_airflow_component_postgres_redis_the_secrets_check_the_dashboard_and_a_proxy():
    assert set(SERVICES) == {"secrets-check", "postgres", "redis", *AIRFLOW_SERVICES, "dashboard", "proxy"}
    assert SERVICES["postgres"]["image"].startswith("postgres:")
    assert SERVICES["redis"]["image"].startswith("redis:")


@pytest.mark.parametrize("service", list(AIRFLOW_COMMANDS), ids=list(AIRFLOW_COMMANDS))
def test_each_airflow_component_runs_its_own_command_from_the_project_image(service):
    spec = SERVICES[service]
    assert " ".join(str(spec["command"]).split()) == AIRFLOW_COMMANDS[service]
    assert spec["build"] == "." and spec["image"] == SERVICES["airflow-init"]["image"]
    assert spec.get("restart") == "always"


def test_init_checks_its_secrets_migrates_the_database_creates_the_writer_pool_the_roles_and_the_admin():
    assert SERVICES["airflow-init"]["command"] == "bash deploy/init.sh"
    steps = [line for line in INIT.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert "set -euo pipefail" in steps  # any failing step fails init, and nothing else starts
    check = "python -m deploy.env_secrets check AIRFLOW_FERNET_KEY=AIRFLOW__CORE__FERNET_KEY AIRFLOW_ADMIN_PASSWORD"
    assert steps.index(check) < steps.index("airflow db migrate")
    assert re.search(r"^airflow pools set duckdb_writer 1\b", INIT, re.M)
    # the roles and the admin, in Python: the admin's password never on a command line
    assert steps.index("airflow db migrate") < steps.index("python -m deploy.accounts init")
    assert "--password" not in INIT and "ADMIN_PASSWORD" not in " ".join(steps[steps.index(check) + 1 :])
    for service in AIRFLOW_COMMANDS:  # nothing starts before the database is migrated
        depends = SERVICES[service]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert "airflow-init" in depends or "airflow-apiserver" in depends


DB_SERVICES = {"airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"}
CELERY_SERVICES = {"airflow-scheduler", "airflow-worker", "airflow-writer"}


@pytest.mark.parametrize("service", AIRFLOW_SERVICES, ids=AIRFLOW_SERVICES)
def test_every_airflow_service_uses_celery_postgres_redis_and_the_shared_data_volume(service):
    env = env_of(service)
    # the Airflow settings come from the one shared file; .env only fills in its own secrets
    assert SERVICES[service].get("env_file") == ["deploy/airflow.env"]
    assert AIRFLOW_ENV["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert "AIRFLOW__CORE__EXECUTOR" not in env  # one place only
    if service in DB_SERVICES:
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith(
            "postgresql+psycopg2://airflow:${POSTGRES_PASSWORD"
        )
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres/airflow")
    else:  # Airflow 3's workers reach the metadata only through the API server
        assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in env
    if service in CELERY_SERVICES:
        # Redis requires its password: the broker URL carries it; results in Redis too, so a
        # worker never needs the database's password
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://:${REDIS_PASSWORD:?")
        assert env["AIRFLOW__CELERY__BROKER_URL"].endswith("@redis:6379/0")
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("redis://:${REDIS_PASSWORD:?")
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].endswith("@redis:6379/1")
    else:
        assert not any(k.startswith("AIRFLOW__CELERY__") for k in env)
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/airflow/execution/"
    assert env["AIRFLOW__API__BASE_URL"] == "${PLAN_METRICS_PUBLIC_URL:-https://localhost}/airflow/"
    volumes = SERVICES[service]["volumes"]
    assert f"plan-data:{env['PLAN_METRICS_DATA_DIR']}" in volumes
    assert any(v.endswith(f":{env['PLAN_METRICS_INCOMING_DIR']}:ro") for v in volumes), "drop folder read-only"


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
    text = COMPOSE_TEXT
    example_keys = {
        line.split("=", 1)[0] for line in ENV_EXAMPLE.splitlines() if "=" in line and not line.startswith("#")
    }
    for name, modifier in re.findall(r"\$\{([A-Z0-9_]+)(:?[-?][^}]*)?\}", text):
        if modifier.startswith((":-", "-")):
            continue
        assert name in example_keys, f"${{{name}}} is read by docker-compose.yml but missing from .env.example"


def test_secrets_come_from_the_environment_never_from_the_compose_file():
    for service in SERVICES:
        for key, value in env_of(service).items():
            if re.search(r"PASSWORD|SECRET|FERNET|TOKEN|_CONN_", key):
                assert str(value).startswith("${"), f"{service}.{key} is hard-coded"
    for key in AIRFLOW_ENV:
        assert not re.search(r"PASSWORD|SECRET|FERNET|TOKEN|_CONN$|SQL_ALCHEMY|BROKER_URL", key), key
    assert "AIRFLOW_CONN_KECHUANG_ORDERS=" in ENV_EXAMPLE  # source connections come from .env


def example_env() -> dict:
    """What `cp .env.example .env` gives compose to interpolate."""
    return env_secrets.read_env_file(REPO / ".env.example")


@pytest.mark.parametrize("name", env_secrets.NAMES)
def test_compose_refuses_to_start_when_a_secret_is_missing_or_empty_naming_it(name):
    # every use of the secret is ${NAME:?message naming NAME}: compose stops on the first one
    uses = re.findall(rf"\$\{{{name}([^}}]*)\}}", COMPOSE_TEXT)
    assert uses, f"{name} is not used by docker-compose.yml"
    for modifier in uses:
        assert modifier.startswith(":?") and name in modifier, f"${{{name}{modifier}}} does not refuse a missing value"
    good = env_secrets.generate()
    interpolate(COMPOSE_TEXT, {**example_env(), **good})  # all set: compose starts
    for bad in ({k: v for k, v in good.items() if k != name}, {**good, name: ""}):
        with pytest.raises(ValueError, match=rf"required variable {name} is missing a value: {name} is not set"):
            interpolate(COMPOSE_TEXT, {**example_env(), **bad})


@pytest.mark.parametrize("name", env_secrets.NAMES)
def test_a_copied_env_example_cannot_start_the_deployment(name):
    # GIVEN .env.example copied to .env, every other secret filled in
    env = {**example_env(), **{k: v for k, v in env_secrets.generate().items() if k != name}}
    # THEN compose refuses to start, naming the secret left as the example has it
    with pytest.raises(ValueError, match=rf"required variable {name} "):
        interpolate(COMPOSE_TEXT, env)
    # AND so does the secrets check that runs before anything else
    assert any(p.startswith(name) for p in env_secrets.problems(env))


@pytest.mark.parametrize("name", env_secrets.NAMES)
@pytest.mark.parametrize(
    "value",
    ["change-me", "change-me-to-a-long-random-string", "<token>", "CHANGEME-please-0123456789abcdef", "password", ""],
)
def test_the_secrets_check_refuses_placeholders_naming_the_variable(name, value):
    env = {**env_secrets.generate(), name: value}
    (problem,) = env_secrets.problems(env)
    assert problem.startswith(f"{name} ")
    assert "make secrets" in problem


def test_the_secrets_check_refuses_weak_and_malformed_values_and_accepts_generated_ones():
    good = env_secrets.generate()
    assert env_secrets.problems(good) == []
    assert env_secrets.generate() != good  # fresh every time
    assert env_secrets.problems({**good, "AIRFLOW_JWT_SECRET": "k3Jx9q"})[0].startswith(
        "AIRFLOW_JWT_SECRET is too short"
    )
    assert all(env_secrets.problems(env_secrets.generate()) == [] for _ in range(50))
    assert "not a Fernet key" in env_secrets.problems({**good, "AIRFLOW_FERNET_KEY": good["AIRFLOW_JWT_SECRET"]})[0]
    assert "may only use" in env_secrets.problems({**good, "POSTGRES_PASSWORD": "a/b@c" + "x" * 30})[0]
    # the check runs first: PostgreSQL and Redis wait for it, every Airflow service waits for them
    check = SERVICES["secrets-check"]
    assert check["command"] == "python -m deploy.env_secrets check" and check["env_file"] == [".env"]
    for service in ("postgres", "redis"):
        assert SERVICES[service]["depends_on"]["secrets-check"]["condition"] == "service_completed_successfully"


def test_make_secrets_writes_a_env_that_starts_and_keeps_secrets_already_set(tmp_path):
    env_file = tmp_path / ".env"
    written = subprocess.run(
        [sys.executable, "-m", "deploy.env_secrets", "write", str(env_file)], cwd=REPO, check=True, capture_output=True
    )
    first = env_secrets.read_env_file(env_file)
    assert env_secrets.problems(first) == []
    # the source tokens are the operator's to fill in: it says so, and the check refuses them until then
    assert "AIRFLOW_CONN_KECHUANG_ORDERS" in written.stdout.decode()
    assert any(
        p.startswith("AIRFLOW_CONN_KECHUANG_ORDERS's token is still a placeholder")
        for p in env_secrets.source_problems(first)
    )
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"
    interpolate(COMPOSE_TEXT, first)  # compose would start
    assert first["AIRFLOW_CONN_KECHUANG_ORDERS"] == example_env()["AIRFLOW_CONN_KECHUANG_ORDERS"]
    # a second run keeps them (a new database password would lock the deployment out of its volume)
    env_file.write_text(env_file.read_text().replace(f"REDIS_PASSWORD={first['REDIS_PASSWORD']}", "REDIS_PASSWORD="))
    subprocess.run([sys.executable, "-m", "deploy.env_secrets", "write", str(env_file)], cwd=REPO, check=True)
    second = env_secrets.read_env_file(env_file)
    assert {k: v for k, v in second.items() if k != "REDIS_PASSWORD"} == {
        k: v for k, v in first.items() if k != "REDIS_PASSWORD"
    }
    assert second["REDIS_PASSWORD"] and second["REDIS_PASSWORD"] != first["REDIS_PASSWORD"]


def test_redis_requires_its_password_and_is_never_published():
    redis = SERVICES["redis"]
    assert "requirepass" in " ".join(redis["command"]) and "REDIS_PASSWORD" in " ".join(redis["command"])
    assert "--requirepass" not in " ".join(redis["command"])  # not on the command line, where ps shows it
    assert redis["environment"]["REDISCLI_AUTH"].startswith("${REDIS_PASSWORD:?")  # the healthcheck logs in
    assert "ports" not in SERVICES["postgres"] and "ports" not in redis  # never published


def test_fab_auth_manager_and_no_default_login():
    assert AIRFLOW_ENV["AIRFLOW__CORE__AUTH_MANAGER"].endswith("fab_auth_manager.FabAuthManager")
    assert "SIMPLE_AUTH_MANAGER" not in COMPOSE_TEXT and "SimpleAuthManager" not in COMPOSE_TEXT
    assert AIRFLOW_ENV["AIRFLOW__API__EXPOSE_CONFIG"] == "False"


def test_the_process_based_run_uses_the_compose_commands_and_every_setting(tmp_path):
    """deploy/local_stack reads docker-compose.yml and deploy/airflow.env: same commands,
    every environment variable, only host names, ports and paths made local."""
    prod = ProdLocal(tmp_path, {c: "{}" for c in SOURCE_CONNS})
    try:
        env = prod.environment("airflow-scheduler")
        envs = {s: prod.environment(s) for s in [*AIRFLOW_SERVICES, "dashboard"]}
    finally:
        prod.postgres.stop()  # only its folder was created
    compose_env = env_of("airflow-scheduler")
    assert set(compose_env) | set(AIRFLOW_ENV) <= set(env)
    assert all(env[k] == v for k, v in AIRFLOW_ENV.items())
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == (
        f"postgresql+psycopg2://airflow:{prod.secrets['POSTGRES_PASSWORD']}@127.0.0.1:{prod.postgres.port}/airflow"
    )
    assert (
        env["AIRFLOW__CELERY__BROKER_URL"] == f"redis://:{prod.secrets['REDIS_PASSWORD']}@127.0.0.1:{prod.redis.port}/0"
    )
    assert envs["airflow-apiserver"]["AIRFLOW__CORE__FERNET_KEY"] == prod.secrets["AIRFLOW_FERNET_KEY"]
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__API__BASE_URL"] == f"{prod.url}/airflow/"  # the proxy's address
    for service, command in AIRFLOW_COMMANDS.items():
        name = f"{service}-1" if service == "airflow-worker" else service
        assert " ".join(prod.component_argv(name)).startswith(command)
    # AND each process gets the secrets its compose service gets, no other
    for service, process_env in envs.items():
        got = {n for n, v in prod.secrets.items() if any(v in str(x) for x in process_env.values())}
        assert got == NEEDS[service] & set(env_secrets.NAMES), f"{service} is given {sorted(got)}"
        conns = {k for k in process_env if k.startswith("AIRFLOW_CONN_")}
        assert conns == {c for c in NEEDS[service] if c.startswith("AIRFLOW_CONN_")}, f"{service}: {sorted(conns)}"


def test_healthchecks_only_use_tools_their_images_have():
    assert SERVICES["postgres"]["healthcheck"]["test"][1] == "pg_isready"
    assert SERVICES["redis"]["healthcheck"]["test"][:2] == ["CMD", "redis-cli"]
    # python:*-slim has no curl: the api-server is checked with python
    assert SERVICES["airflow-apiserver"]["healthcheck"]["test"][1] == "python"


def test_the_dockerfile_installs_only_the_hashed_production_lock_and_copies_the_pipeline():
    assert re.search(r"^FROM python:3\.11", DOCKERFILE, re.M)
    installs = re.findall(r"pip install[^\n\\]*", DOCKERFILE)
    assert installs == ["pip install --no-cache-dir --no-deps --require-hashes -r requirements.lock "], installs
    assert re.search(r"^\s+&& pip check", DOCKERFILE, re.M)
    assert re.search(r"^COPY requirements\.lock ", DOCKERFILE, re.M)
    assert not re.search(r"^(COPY|RUN|ADD) .*requirements-dev", DOCKERFILE, re.M)
    for folder in "settings pipeline deploy dags extract warehouse expectations dbt_project dashboard".split():
        assert re.search(rf"^COPY {folder}/ {folder}/$", DOCKERFILE, re.M), f"{folder}/ not in the image"
    assert "COPY simulator" not in DOCKERFILE  # production never serves the simulator
    assert re.search(r"^USER airflow$", DOCKERFILE, re.M)


@pytest.mark.parametrize(
    "package",
    [
        "apache-airflow",
        "apache-airflow-providers-celery",
        "apache-airflow-providers-fab",
        "apache-airflow-providers-apprise",
        "apache-airflow-providers-postgres",
        "celery",
        "redis",
        "psycopg2-binary",
        "asyncpg",
        "dbt-duckdb",
        "duckdb",
        "streamlit",
    ],
)
def test_the_lock_pins_what_the_deployment_needs(package):
    assert re.search(rf"^{re.escape(package)}==\S+ \\$", LOCK, re.M | re.I), (
        f"{package} is not pinned in requirements.lock"
    )


# --- who gets which secret ---------------------------------------------------------------------
SOURCE_CONNS = {s.conn_env for s in http_sources()}
ALERTS = "AIRFLOW_CONN_PLAN_METRICS_ALERTS"
LINEAGE_KEY = "OPENLINEAGE_API_KEY"  # optional: only where OpenLineage events are emitted
# What each service needs, and so may be given (least privilege): the API server no source token, the
# workers only the connections they use, the dashboard its session secret, the proxy nothing.
NEEDS = {
    "postgres": {"POSTGRES_PASSWORD"},
    "redis": {"REDIS_PASSWORD"},
    "airflow-init": {"POSTGRES_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_ADMIN_PASSWORD"},
    # database; connections' encryption; signs API tokens; signs sessions and log requests
    "airflow-apiserver": {"POSTGRES_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY"},
    # database; Celery; signs each task's execution token; emits the DAG runs' lineage events
    "airflow-scheduler": {"POSTGRES_PASSWORD", "REDIS_PASSWORD", "AIRFLOW_JWT_SECRET", LINEAGE_KEY},
    # database; the failure callbacks of tasks whose worker died
    "airflow-dag-processor": {"POSTGRES_PASSWORD", ALERTS},
    # database; its log server checks the api-server's signed requests
    "airflow-triggerer": {"POSTGRES_PASSWORD", "AIRFLOW_API_SECRET_KEY"},
    # Celery; log server; alerts; the sources it extracts from
    "airflow-worker": {"REDIS_PASSWORD", "AIRFLOW_API_SECRET_KEY", ALERTS, LINEAGE_KEY, *SOURCE_CONNS},
    # Celery; log server; alerts (loads read landed files: no source token)
    "airflow-writer": {"REDIS_PASSWORD", "AIRFLOW_API_SECRET_KEY", ALERTS, LINEAGE_KEY},
    "dashboard": {"DASHBOARD_SESSION_SECRET"},
    "proxy": set(),
}
SECRET_NAMES = {*env_secrets.NAMES, *env_secrets.OPTIONAL, *SOURCE_CONNS, ALERTS}


def given(service: str) -> set[str]:
    """The secrets a service's container receives: every one its environment interpolates, and
    all of .env when it reads .env as an env_file."""
    spec = SERVICES[service]
    if ".env" in (spec.get("env_file") or []):
        return set(SECRET_NAMES)
    text = " ".join(str(v) for v in env_of(service).values())
    return {n for n in SECRET_NAMES if re.search(rf"\$\{{{n}\b", text)}


@pytest.mark.parametrize("service", sorted(NEEDS), ids=sorted(NEEDS))
def test_each_service_is_given_only_the_secrets_it_uses(service):
    # GIVEN the compose file WHEN what the service's container receives is read
    extra, missing = given(service) - NEEDS[service], NEEDS[service] - given(service)
    # THEN it holds no secret it does not need, and every one it needs
    assert not extra, f"{service} is given secrets it does not need: {sorted(extra)}"
    assert not missing, f"{service} lacks {sorted(missing)}"


def test_only_the_secrets_check_sees_the_whole_env_file_and_it_exits():
    readers = [s for s, spec in SERVICES.items() if ".env" in (spec.get("env_file") or [])]
    assert readers == ["secrets-check"]
    assert SERVICES["secrets-check"]["restart"] == "no" and "ports" not in SERVICES["secrets-check"]
    assert set(NEEDS) | {"secrets-check"} == set(SERVICES)  # a new service states what it needs


def test_the_extract_worker_holds_the_connection_of_every_http_source_in_the_registry():
    conns = {k for k in env_of("airflow-worker") if k.startswith("AIRFLOW_CONN_")}
    assert conns == SOURCE_CONNS | {ALERTS}  # extract.sources is the list (docs/add-a-source.md)


# --- the one way in: TLS at the proxy, a login for the dashboard ------------------------------
NGINX = (REPO / "deploy" / "nginx.conf").read_text(encoding="utf-8")


def test_the_proxy_is_the_only_published_port_and_nothing_else_is_reachable_from_outside():
    published = {s: spec["ports"] for s, spec in SERVICES.items() if spec.get("ports")}
    assert list(published) == ["proxy"], f"published besides the proxy: {published}"
    (port,) = published["proxy"]
    assert interpolate(port, {}) == "0.0.0.0:443:8443"
    assert re.search(r"^\s*listen 8443 ssl;$", NGINX, re.M)
    assert len(re.findall(r"^\s*listen ", NGINX, re.M)) == 1  # no plain-HTTP listener


def test_the_proxy_terminates_tls_with_hsts_and_fronts_the_dashboard_and_airflow():
    spec = SERVICES["proxy"]
    mounts = dict(interpolate(v, {}).split(":")[1::-1] for v in spec["volumes"])
    assert mounts["/etc/nginx/nginx.conf"] == "./deploy/nginx.conf"
    assert mounts["/etc/plan-metrics/tls"] == "./tls"
    assert "ssl_certificate /etc/plan-metrics/tls/cert.pem;" in NGINX
    assert "ssl_certificate_key /etc/plan-metrics/tls/key.pem;" in NGINX
    assert re.search(r"ssl_protocols TLSv1\.2 TLSv1\.3;", NGINX)
    assert re.search(r'add_header Strict-Transport-Security "max-age=\d{8,}; includeSubDomains" always;', NGINX)
    for header in ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Content-Security-Policy"):
        assert re.search(rf"add_header {header} .* always;", NGINX), header
    assert "server_tokens off;" in NGINX and "proxy_cookie_flags ~ secure;" in NGINX
    # the upstreams are the compose services on their container ports
    assert "server airflow-apiserver:8080;" in NGINX and "server dashboard:8501;" in NGINX
    assert SERVICES["airflow-apiserver"]["expose"] == ["8080"] and SERVICES["dashboard"]["expose"] == ["8501"]
    # Airflow under /airflow/ (its base_url), the workers' execution API not at all, the rest the dashboard
    assert re.search(r"location /airflow/ \{\s*proxy_pass http://airflow;", NGINX)
    assert re.search(r"location /airflow/execution/ \{\s*return 404;", NGINX)
    assert re.search(r"location / \{\s*proxy_pass http://dashboard;", NGINX)
    # the proxy says the request came over https: the api-server trusts it for Secure cookies
    assert "proxy_set_header X-Forwarded-Proto https;" in NGINX
    api = SERVICES["airflow-apiserver"]
    assert "--proxy-headers" in api["command"] and env_of("airflow-apiserver")["FORWARDED_ALLOW_IPS"] == "*"


def test_the_dashboard_needs_a_login_with_airflow_accounts_and_reads_the_published_folder_read_only():
    spec = SERVICES["dashboard"]
    env = spec["environment"]
    assert spec["build"] == "." and spec["image"] == SERVICES["airflow-init"]["image"]
    assert " ".join(str(spec["command"]).split()) == "python -m dashboard --address 0.0.0.0 --port 8501"
    assert "ports" not in spec  # behind the proxy only
    # the login: Airflow's api-server (its base path), the dashboard's own session secret
    assert env["PLAN_METRICS_DASHBOARD_AUTH"] == "http://airflow-apiserver:8080/airflow"
    assert env["PLAN_METRICS_DASHBOARD_SESSION_SECRET"].startswith("${DASHBOARD_SESSION_SECRET:?")
    assert env["PLAN_METRICS_DASHBOARD_AUDIT_LOG"].startswith("/audit/")
    published, audit = spec["volumes"]  # the published folder of the data volume, read-only
    assert published["type"] == "volume" and published["source"] == "plan-data" and published["read_only"] is True
    assert published["volume"]["subpath"] == "published"
    assert published["target"] == env["PLAN_METRICS_DATA_DIR"] + "/published"
    assert audit == "dashboard-audit:/audit"
    assert spec["user"] == "dashboard"  # not the pipeline's user: reads through the readers group
    assert "env_file" not in spec and not any(k.startswith("AIRFLOW") for k in env)
    assert spec["healthcheck"]["test"][1] == "python" and "_stcore/health" in spec["healthcheck"]["test"][-1]


def test_the_api_server_locks_accounts_and_answers_who_a_user_is_and_no_other_component_loads_either():
    env = env_of("airflow-apiserver")
    assert env["AIRFLOW__FAB__CONFIG_FILE"] == "/opt/plan-metrics/deploy/webserver_config.py"
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == "/opt/plan-metrics/deploy/airflow_plugins"
    assert (REPO / "deploy" / "webserver_config.py").exists()
    assert (REPO / "deploy" / "airflow_plugins" / "plan_metrics_access.py").exists()
    for service in AIRFLOW_SERVICES:
        if service != "airflow-apiserver":
            assert not {"AIRFLOW__FAB__CONFIG_FILE", "AIRFLOW__CORE__PLUGINS_FOLDER"} & set(env_of(service)), service
    assert "SECURITY_MANAGER_CLASS = LockoutSecurityManager" in (REPO / "deploy" / "webserver_config.py").read_text()
    assert AIRFLOW_ENV["AIRFLOW__FAB__COOKIE_SECURE"] == "True"
